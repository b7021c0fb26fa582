package agent

// Goal is how close the agent's median must be to fio's (±10 %).
const Goal = 0.10

// Round is one round: each tool writes, then each reads, the same file. MB is 10^6
// bytes, as fio's. CPU is user+system seconds of that side's run.
type Round struct {
	Round      int     `json:"round"` // 0 is the warm-up, not counted
	First      string  `json:"first"` // agent or fio
	AgentWrite float64 `json:"agent_write_mbps"`
	FioWrite   float64 `json:"fio_write_mbps"`
	WriteRatio float64 `json:"write_ratio"`
	AgentRead  float64 `json:"agent_read_mbps"`
	FioRead    float64 `json:"fio_read_mbps"`
	ReadRatio  float64 `json:"read_ratio"`
	AgentCPU   float64 `json:"agent_cpu_s"`
	FioCPU     float64 `json:"fio_cpu_s"`
}

// Side summarises one tool over the counted rounds.
type Side struct {
	WriteMBps   float64 `json:"write_mbps"`   // median
	ReadMBps    float64 `json:"read_mbps"`    // median
	WriteSpread float64 `json:"write_spread"` // interquartile range / median
	ReadSpread  float64 `json:"read_spread"`
	CPUPerGB    float64 `json:"cpu_s_per_gb"` // CPU seconds per GB moved (fio's includes its start-up)
}

// Load is the machine the rounds ran on.
type Load struct {
	CPUs        int        `json:"cpus"`
	Start       [3]float64 `json:"loadavg_start"`
	End         [3]float64 `json:"loadavg_end"`
	CPUPressure float64    `json:"cpu_pressure"` // share of the bench time some task waited for a CPU
	IOPressure  float64    `json:"io_pressure"`  // share of the bench time some task waited for I/O
}

// Report is what `node-agent bench -o json` prints.
type Report struct {
	File      string   `json:"file"`
	SizeBytes int64    `json:"size_bytes"`
	BlockSize int      `json:"block_size"`
	Jobs      int      `json:"jobs"`
	Limit     string   `json:"time_limit"`
	Rounds    int      `json:"rounds"`
	FioWrite  []string `json:"fio_command"`
	FioRead   []string `json:"fio_read_command"`

	Warmup   Round   `json:"warmup"`
	PerRound []Round `json:"per_round"`
	Agent    Side    `json:"agent"`
	Fio      Side    `json:"fio"`
	// The goal is judged on these: the median of the per-round ratios agent/fio. The two
	// runs of a round are seconds apart, so a drift of the disk's speed over the bench
	// (a neighbour starting, a host cache warming) cancels in each round's ratio.
	WriteRatio float64 `json:"write_ratio"`
	ReadRatio  float64 `json:"read_ratio"`
	// Median agent / median fio, for comparison: moved by drift that pairs cancel.
	// A distribution-free interval for each median ratio (≥95 % where there are 6 rounds
	// or more): how far noise alone could have moved it.
	WriteRatioCI        [2]float64 `json:"write_ratio_ci"`
	ReadRatioCI         [2]float64 `json:"read_ratio_ci"`
	WriteRatioOfMedians float64    `json:"write_ratio_of_medians"`
	ReadRatioOfMedians  float64    `json:"read_ratio_of_medians"`
	WritePass           bool       `json:"write_pass"`
	ReadPass            bool       `json:"read_pass"`
	Goal                string     `json:"goal"` // PASS or MISS

	Load    Load    `json:"load"`
	Seconds float64 `json:"seconds"`
}
