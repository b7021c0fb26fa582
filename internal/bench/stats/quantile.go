package stats

import (
	"math"
	"slices"
)

// Number is a sample: a float64 figure (MB/s, a ratio) or a time.Duration.
type Number interface{ ~int64 | ~float64 }

// Quantile is the q-quantile (0 ≤ q ≤ 1) of xs, interpolated linearly between the
// sorted values (Hyndman and Fan's type 7, what R and NumPy default to); 0 for no
// samples. xs is not reordered.
func Quantile[T Number](xs []T, q float64) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	step := (pos - float64(i)) * float64(s[i+1]-s[i])
	if half := 0.5; T(half) == 0 { // an integer type (time.Duration): round, not truncate
		step = math.Round(step)
	}
	return s[i] + T(step)
}

// Median is the 0.5-quantile: the middle value, or the mean of the two middle ones.
func Median[T Number](xs []T) T { return Quantile(xs, 0.5) }

// IQR is the interquartile range, the third quartile less the first.
func IQR[T Number](xs []T) T { return Quantile(xs, 0.75) - Quantile(xs, 0.25) }

// Spread is the interquartile range relative to the median: the noise of one side of a
// comparison, free of its unit. 0 when the median is 0.
func Spread[T Number](xs []T) float64 {
	m := Median(xs)
	if m == 0 {
		return 0
	}
	return float64(IQR(xs)) / float64(m)
}
