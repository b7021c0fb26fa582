package stats

import (
	"testing"
	"time"
)

func TestMedianAndSpread(t *testing.T) {
	for _, tc := range []struct {
		name           string
		xs             []float64
		median, spread float64
	}{
		{name: "odd", xs: []float64{3, 1, 2}, median: 2, spread: 0.5},
		{name: "even: mean of the middle two", xs: []float64{4, 1, 2, 3}, median: 2.5, spread: 0.6},
		{name: "an outlier moves neither", xs: []float64{10, 10, 10, 10, 50}, median: 10, spread: 0},
		{name: "empty", xs: nil, median: 0, spread: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if m, s := Median(tc.xs), Spread(tc.xs); m != tc.median || s != tc.spread {
				t.Errorf("%v: median %v spread %v, want %v %v", tc.xs, m, s, tc.median, tc.spread)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	xs := []float64{50, 10, 40, 20, 30} // sorted: 10 20 30 40 50
	for _, tc := range []struct {
		q, want float64
	}{
		{q: 0, want: 10},
		{q: 0.25, want: 20},
		{q: 0.3, want: 22},
		{q: 0.5, want: 30},
		{q: 0.99, want: 49.6},
		{q: 1, want: 50},
	} {
		if got := Quantile(xs, tc.q); got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("Quantile(%v, %v) = %v, want %v", xs, tc.q, got, tc.want)
		}
	}
	if xs[0] != 50 || xs[4] != 30 {
		t.Errorf("Quantile reordered its input: %v", xs)
	}
	if got := IQR(xs); got != 20 {
		t.Errorf("IQR = %v, want 20", got)
	}
}

// Durations are samples too: the wall times of the CLI benches.
func TestQuantileDurations(t *testing.T) {
	ds := []time.Duration{4 * time.Second, time.Second, 3 * time.Second, 2 * time.Second}
	if got := Median(ds); got != 2500*time.Millisecond {
		t.Errorf("median %v, want 2.5s", got)
	}
	if got := Quantile(ds, 0.99); got != 3970*time.Millisecond {
		t.Errorf("p99 %v, want 3.97s", got)
	}
	if got := Spread(ds); got != 0.6 {
		t.Errorf("spread %v, want 0.6", got)
	}
}

func TestRatio(t *testing.T) {
	if got := Ratio(3, 2); got != 1.5 {
		t.Errorf("Ratio(3, 2) = %v", got)
	}
	if got := Ratio(3, 0); got != 0 {
		t.Errorf("Ratio(3, 0) = %v, want 0 (no peer figure)", got)
	}
}
