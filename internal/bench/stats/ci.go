package stats

import (
	"math"
	"slices"
)

// MedianCI is a distribution-free confidence interval for the median: from the k-th
// smallest to the k-th largest value, k the largest with P(Binomial(n, ½) < k) ≤ 2.5 %
// (coverage ≥ 95 %). Below 6 samples no such k exists and it is the whole range.
func MedianCI[T Number](xs []T) [2]T {
	n := len(xs)
	if n == 0 {
		return [2]T{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	lg := func(x int) float64 { v, _ := math.Lgamma(float64(x)); return v }
	k, cum := 0, 0.0
	for j := 0; j < n; j++ {
		cum += math.Exp(lg(n+1) - lg(j+1) - lg(n-j+1) - float64(n)*math.Ln2)
		if cum > 0.025 {
			break
		}
		k = j + 1
	}
	if k == 0 {
		return [2]T{s[0], s[n-1]}
	}
	return [2]T{s[k-1], s[n-k]}
}

// CI95 reports whether MedianCI of n samples covers at least 95 % (n ≥ 6); below that
// it is only the range of the samples.
func CI95(n int) bool { return n >= 6 }
