package stats

import "testing"

func TestMedianCI(t *testing.T) {
	var xs []float64
	for i := 24; i >= 1; i-- {
		xs = append(xs, float64(i))
	}
	for _, tc := range []struct {
		name string
		xs   []float64
		want [2]float64
	}{
		// n=24: P(X ≤ 6) = 1.1 %, P(X ≤ 7) = 3.2 %: from the 7th smallest to the 7th largest.
		{name: "n=24", xs: xs, want: [2]float64{7, 18}},
		// n=9: P(X ≤ 1) = 2.0 %, P(X ≤ 2) = 9.0 %.
		{name: "n=9", xs: xs[:9], want: [2]float64{17, 23}},
		// n=6: P(X = 0) = 1.6 %, P(X ≤ 1) = 10.9 %: the extremes, the first n with 95 %.
		{name: "n=6", xs: []float64{6, 2, 4, 1, 5, 3}, want: [2]float64{1, 6}},
		// n=5: even the extremes cover only 93.75 %: the whole range.
		{name: "n=5", xs: []float64{5, 1, 3, 2, 4}, want: [2]float64{1, 5}},
		{name: "empty", xs: nil, want: [2]float64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ci := MedianCI(tc.xs); ci != tc.want {
				t.Errorf("%v, want %v", ci, tc.want)
			}
		})
	}
	if CI95(5) || !CI95(6) {
		t.Errorf("CI95: 5 samples give only the range, 6 give 95 %%")
	}
}
