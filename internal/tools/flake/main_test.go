package main

import (
	"strings"
	"testing"
)

// read counts each test's runs and failures over all -count runs, keeps the first
// failure's output, says the first failure at once, and reports a package that failed
// outside its tests; report lists both and fails.
func TestReadAndReport(t *testing.T) {
	t.Parallel()
	stream := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"first boom\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestA"}`,
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}`,
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"second boom\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestA"}`,
		`{"Action":"run","Package":"p","Test":"TestB"}`,
		`{"Action":"skip","Package":"p","Test":"TestB"}`,
		`{"Action":"fail","Package":"p"}`,
		`{"Action":"output","Package":"q","Output":"q.go:1: undefined: x\n"}`,
		`{"Action":"fail","Package":"q"}`,
		`not json`,
	}, "\n")
	var progress strings.Builder
	tests, broken := read(strings.NewReader(stream), &progress)
	a := tests["p TestA"]
	if a == nil || a.runs != 3 || a.fails != 2 || strings.Join(a.output, "") != "first boom\n" {
		t.Fatalf("TestA counted %+v, want 3 runs, 2 failures, the first one's output", a)
	}
	if b := tests["p TestB"]; b == nil || b.runs != 1 || b.fails != 0 {
		t.Errorf("TestB counted %+v, want one run (skipped), no failure", b)
	}
	if p := progress.String(); strings.Count(p, "FAILED p TestA in run 1") != 1 || !strings.Contains(p, "first boom") || strings.Contains(p, "second boom") {
		t.Errorf("progress said:\n%s\nwant TestA's first failure once, with its output", p)
	}
	var out strings.Builder
	if code := report(&out, tests, broken, nil, 3, 0); code != 1 {
		t.Errorf("report exit %d, want 1", code)
	}
	o := out.String()
	if !strings.Contains(o, "FLAKY p TestA: failed 2 of 3 runs") || !strings.Contains(o, "BROKEN q:") || strings.Contains(o, "BROKEN p:") || strings.Contains(o, "TestB") {
		t.Errorf("report:\n%s\nwant TestA flaky, q broken, p explained by TestA, TestB not named", o)
	}

	out.Reset()
	if code := report(&out, map[string]*counts{"p TestB": {runs: 3}}, nil, nil, 3, 0); code != 0 || !strings.Contains(out.String(), "flake: no test failed") {
		t.Errorf("all passing: exit %d\n%s", code, out.String())
	}
}
