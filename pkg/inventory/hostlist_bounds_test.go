package inventory

import (
	"strings"
	"testing"
)

// TestHostlistBounds: a hostlist may name exactly maxHostlist nodes, in one range, across
// the ranges of one bracket, or as the product of two brackets, and one more is an
// error; a glob class before a range does not hide it. Mutants (make mutate, hostlist.go):
// the three bound checks and the search for every bracket.
func TestHostlistBounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		count int // 0: an error naming the limit
	}{
		{in: "n[000001-100000]", count: maxHostlist},
		{in: "n[000001-100001]"},
		{in: "n[000001-050000,050001-100000]", count: maxHostlist},
		{in: "n[000001-050000,050001-100001]"},
		{in: "a[01-10]-[00001-10000]", count: maxHostlist},
		{in: "a[01-10]-[00001-10001]"},
		{in: "rack[1-2]-gpu-[01-03]", count: 3},
	} {
		got, err := ExpandHostlist(tc.in)
		switch {
		case tc.count == 0 && (err == nil || !strings.Contains(err.Error(), "more than 100000 names")):
			t.Errorf("%s: %d names, err %v; want the limit's error", tc.in, len(got), err)
		case tc.count > 0 && (err != nil || len(got) != tc.count):
			t.Errorf("%s: %d names, err %v; want %d", tc.in, len(got), err, tc.count)
		}
	}
	got, _ := ExpandHostlist("rack[1-2]-gpu-[01-03]")
	if strings.Join(got, " ") != "rack[1-2]-gpu-01 rack[1-2]-gpu-02 rack[1-2]-gpu-03" {
		t.Errorf("a glob class before a range: %v", got)
	}
}
