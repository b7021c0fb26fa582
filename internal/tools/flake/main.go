// Command flake runs packages' tests many times (make flake) and reports every test that
// failed at least once: how often, out of how many runs, and the first failure's output.
//
//	go run ./internal/tools/flake [-count 20] [-race] [-timeout 100m] [-flags "-short"] PKG...
//
// It exits 1 when a test failed or a package did not build or timed out.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// perRun is the -timeout share of one run of a package's tests. go test's timeout covers
// the whole binary, all count runs, and ends it losing every verdict: a fixed hour is
// within reach of 20 runs of pkg/bmc on a loaded machine (about 2 minutes a run), and
// -count=50 was past it. A hung test still ends the binary, later.
const perRun = 5 * time.Minute

// event is one line of `go test -json` (test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type counts struct {
	runs, fails int
	output      []string // the first failed run's output
	cur         []string
}

func main() {
	count := flag.Int("count", 20, "runs of each test")
	race := flag.Bool("race", true, "build with the race detector")
	timeout := flag.Duration("timeout", 0, "go test -timeout of each package's binary; 0: perRun for each run")
	extra := flag.String("flags", "", "more go test flags, space-separated (e.g. -short)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: flake [-count N] [-race] [-flags '-short'] PKG...")
		os.Exit(2)
	}
	if *timeout == 0 {
		*timeout = time.Duration(max(*count, 1)) * perRun
	}
	args := []string{"test", "-json", fmt.Sprintf("-count=%d", *count), "-timeout", timeout.String()}
	if *race {
		args = append(args, "-race")
	}
	args = append(args, strings.Fields(*extra)...)
	args = append(args, flag.Args()...)
	cmd := exec.Command("go", args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	start := time.Now()
	fmt.Printf("go %s\n", strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	tests, broken := read(out, os.Stdout)
	werr := cmd.Wait()
	os.Exit(report(os.Stdout, tests, broken, werr, *count, time.Since(start)))
}

// read folds the event stream into per-test counts and the packages that failed
// outside any test (build error, timeout, panic in TestMain); it says on progress when
// each package is done, so a long run shows where it is.
func read(r io.Reader, progress io.Writer) (map[string]*counts, map[string][]string) {
	tests := map[string]*counts{}
	pkgOut := map[string][]string{}
	broken := map[string][]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		if e.Test == "" {
			switch e.Action {
			case "output":
				pkgOut[e.Package] = appendBounded(pkgOut[e.Package], e.Output)
			case "fail":
				broken[e.Package] = pkgOut[e.Package]
				fmt.Fprintf(progress, "FAIL %s\n", e.Package)
			case "pass":
				fmt.Fprintf(progress, "ok   %s\n", e.Package)
			}
			continue
		}
		k := e.Package + " " + e.Test
		c := tests[k]
		if c == nil {
			c = &counts{}
			tests[k] = c
		}
		switch e.Action {
		case "run":
			c.cur = nil
		case "output":
			c.cur = appendBounded(c.cur, e.Output)
		case "pass", "skip":
			c.runs++
		case "fail":
			c.runs++
			c.fails++
			if c.output == nil {
				// Said at once, not only in the report: a run takes an hour or more.
				c.output = c.cur
				fmt.Fprintf(progress, "FAILED %s %s in run %d (first failure; more in the report)\n", e.Package, e.Test, c.runs)
				for _, l := range c.output {
					fmt.Fprint(progress, "    "+l)
				}
			}
		}
	}
	return tests, broken
}

func appendBounded(lines []string, s string) []string {
	if len(lines) >= 40 {
		return lines
	}
	return append(lines, s)
}

func report(w io.Writer, tests map[string]*counts, broken map[string][]string, werr error, count int, took time.Duration) int {
	var failed []string
	for k, c := range tests {
		if c.fails > 0 {
			failed = append(failed, k)
		}
	}
	sort.Strings(failed)
	// A package fails as a whole when any of its tests did; report it only when no test
	// explains it (a build error, a timeout, a crash outside a test).
	var pkgs []string
	for p := range broken {
		explained := false
		for _, k := range failed {
			if strings.HasPrefix(k, p+" ") {
				explained = true
			}
		}
		if !explained {
			pkgs = append(pkgs, p)
		}
	}
	sort.Strings(pkgs)
	fmt.Fprintf(w, "\nflake: %d tests, each run up to %d times, in %s\n", len(tests), count, took.Round(time.Second))
	if len(failed) == 0 && len(pkgs) == 0 && werr == nil {
		fmt.Fprintln(w, "flake: no test failed")
		return 0
	}
	for _, k := range failed {
		c := tests[k]
		fmt.Fprintf(w, "FLAKY %s: failed %d of %d runs\n", k, c.fails, c.runs)
		for _, l := range c.output {
			fmt.Fprint(w, "    "+l)
		}
	}
	for _, p := range pkgs {
		fmt.Fprintf(w, "BROKEN %s: failed outside its tests (build error, timeout or crash)\n", p)
		for _, l := range broken[p] {
			fmt.Fprint(w, "    "+l)
		}
	}
	if len(failed) == 0 && len(pkgs) == 0 {
		fmt.Fprintf(w, "flake: go test failed: %v\n", werr)
	}
	return 1
}
