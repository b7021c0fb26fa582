// Package stats holds what every racklift benchmark (internal/bench/...) summarises its
// samples with and prints beside its figures: order statistics (median, quantiles, the
// interquartile spread, a distribution-free interval for the median), ratios against a
// peer, and the machine's load (load average, CPU time, pressure stall). On a shared
// machine a wall time means little without the load it was measured under.
package stats
