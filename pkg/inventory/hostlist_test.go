package inventory

import (
	"slices"
	"strings"
	"testing"
)

func TestExpandHostlist(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{in: "gpu-a01-[01-03]", want: []string{"gpu-a01-01", "gpu-a01-02", "gpu-a01-03"}},
		{in: "gpu-a01-[08-10,15]", want: []string{"gpu-a01-08", "gpu-a01-09", "gpu-a01-10", "gpu-a01-15"}},
		{in: "n[1,3]-[09-10]", want: []string{"n1-09", "n1-10", "n3-09", "n3-10"}},
		{in: "gpu-a0[1-2]-01", want: []string{"gpu-a0[1-2]-01"}}, // a glob class: same names, no insisting
		{in: "gpu-a01-0[12]", want: []string{"gpu-a01-0[12]"}},
		{in: "gpu-[98-100]", want: []string{"gpu-98", "gpu-99", "gpu-100"}},
		{in: "gpu-[10-01]", err: "runs backwards"},
		{in: "gpu-[1-1000000]", err: "more than 100000 names"},
		{in: "gpu-[000-999]-[000-999]", err: "more than 100000 names"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ExpandHostlist(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.in) {
					t.Errorf("ExpandHostlist(%q) = %v, %v; want an error naming it with %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("ExpandHostlist(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestSplitTerms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{in: "rack=a01,role=gpu", want: []string{"rack=a01", "role=gpu"}},
		{in: "gpu-[01-03,07],rack in (a01,a02)", want: []string{"gpu-[01-03,07]", "rack in (a01,a02)"}},
		{in: "a)b,c", want: []string{"a)b", "c"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := splitTerms(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("splitTerms(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
