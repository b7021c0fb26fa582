// Package agent is `node-agent bench` and `make bench-agent`: the agent's O_DIRECT
// storage figures (storage.MeasureFile, what the checks run) against fio doing the same
// I/O on the same file, over alternating rounds, judged on the median of the per-round
// ratios. The command stays in node-agent so an operator can rule the agent out on a
// node; the measuring and the verdict live here, beside the other benchmarks.
package agent
