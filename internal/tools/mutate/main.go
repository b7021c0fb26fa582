// Command mutate is `make mutate`: it runs gremlins (mutation testing) on each package
// and prints, per package, the test efficacy (killed / (killed + lived)) and the mutator
// coverage ((killed + lived) / all mutants) against the goals, then every lived mutant
// as file:line:column.
//
//	go run ./internal/tools/mutate -gremlins BIN -out DIR [-report] PKG...
//
// -report prints the table from the JSON files a previous run left in DIR without running
// gremlins again. It exits 1 when a package is below a goal or gremlins failed.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// result is the part of gremlins' -o JSON the table needs.
type result struct {
	Efficacy   float64 `json:"test_efficacy"`
	Coverage   float64 `json:"mutations_coverage"`
	Killed     int     `json:"mutants_killed"`
	Lived      int     `json:"mutants_lived"`
	NotViable  int     `json:"mutants_not_viable"`
	NotCovered int     `json:"mutants_not_covered"`
	Elapsed    float64 `json:"elapsed_time"`
	Files      []struct {
		Name      string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"mutations"`
	} `json:"files"`
}

func main() {
	bin := flag.String("gremlins", "gremlins", "the gremlins binary")
	out := flag.String("out", ".cache/mutate", "where each package's JSON goes")
	reportOnly := flag.Bool("report", false, "print the table from existing JSON files only")
	dry := flag.Bool("dry-run", false, "gremlins --dry-run: one coverage run, no mutant tested (mutator coverage only)")
	workers := flag.Int("workers", 0, "gremlins --workers (0: its default, the CPUs)")
	coef := flag.Int("timeout-coefficient", 5, "gremlins --timeout-coefficient (slow machines need more)")
	maxFile := flag.Uint64("max-file-size", 0, "bytes any file a mutant's tests write may reach (RLIMIT_FSIZE; 0: no limit)")
	shm := flag.String("shm", "2g", "as root: run gremlins with a private /dev/shm of this size (\"\": the shared one)")
	short := flag.Bool("short", true, "run the tests with -short (the unit suite: root, QEMU and slow tests skip)")
	full := flag.String("full", "pkg/state", "packages (comma-separated) run without -short whatever -short says: pkg/state's etcd store is tested only by its slow suite")
	effGoal := flag.Float64("efficacy", 90, "goal: test efficacy, percent")
	covGoal := flag.Float64("coverage", 85, "goal: mutator coverage, percent")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: mutate -gremlins BIN -out DIR [-report] PKG...")
		os.Exit(2)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if !regexp.MustCompile(`^([0-9]+[kmgKMG%]?)?$`).MatchString(*shm) {
		fmt.Fprintf(os.Stderr, "mutate: -shm %q: want a tmpfs size such as 2g\n", *shm)
		os.Exit(2)
	}
	if *maxFile > 0 && !*reportOnly {
		// Inherited by gremlins and every test it runs: a file past it ends the test with
		// SIGXFSZ, which kills the mutant. Off by default: pkg/agent/storage's tests make
		// sparse files of 32 GiB and more.
		lim := syscall.Rlimit{Cur: *maxFile, Max: *maxFile}
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
			fmt.Fprintln(os.Stderr, "mutate: file size limit:", err)
			os.Exit(2)
		}
	}
	failed := false
	for _, pkg := range flag.Args() {
		if *reportOnly {
			continue
		}
		args := []string{"unleash", "--timeout-coefficient", fmt.Sprint(*coef), "-o", jsonPath(*out, pkg)}
		if *dry {
			args = append(args, "--dry-run")
		}
		if *workers > 0 {
			args = append(args, "--workers", fmt.Sprint(*workers))
		}
		args = append(args, "./"+strings.TrimPrefix(pkg, "./"))
		fmt.Printf("== %s: %s %s\n", pkg, *bin, strings.Join(args, " "))
		start := time.Now()
		cmd := exec.Command(*bin, args...)
		if u, err := exec.LookPath("unshare"); err == nil && *shm != "" && os.Geteuid() == 0 {
			// A mutant in a size or loop bound can make a test write without end, and
			// gremlins' timeout ends go test, not the test binary it started: one made
			// pkg/agent/storage's tmpfs test fill the machine's shared /dev/shm (its
			// memory). A private, bounded /dev/shm (a mount namespace) ends such a test
			// with ENOSPC instead.
			mount := `mount -t tmpfs -o size=` + *shm + ` tmpfs /dev/shm && exec "$0" "$@"`
			cmd = exec.Command(u, append([]string{"-m", "--propagation", "private", "sh", "-c", mount, *bin}, args...)...)
		}
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		// gremlins has no flag for test flags; go test reads them from GOFLAGS, for the
		// coverage run and for every mutant's run alike. -count=1: a coverage run served
		// from the test cache takes no time, and gremlins' timeout for each mutant is a
		// multiple of it (every mutant then times out).
		goflags := os.Getenv("GOFLAGS") + " -count=1"
		if *short && !slices.Contains(strings.Split(*full, ","), pkg) {
			goflags += " -short"
		}
		cmd.Env = append(os.Environ(), "GOFLAGS="+strings.TrimSpace(goflags))
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "gremlins on %s: %v\n", pkg, err)
			failed = true
		}
		fmt.Printf("== %s: %s\n", pkg, time.Since(start).Round(time.Second))
	}
	if !report(os.Stdout, *out, flag.Args(), *effGoal, *covGoal) || failed {
		os.Exit(1)
	}
}

func jsonPath(dir, pkg string) string {
	p := strings.Trim(path.Clean(strings.TrimPrefix(pkg, "./")), "/")
	return filepath.Join(dir, strings.ReplaceAll(p, "/", "_")+".json")
}

// report prints the table and the lived mutants; false when a package misses a goal or
// has no result.
func report(w io.Writer, dir string, pkgs []string, effGoal, covGoal float64) bool {
	ok := true
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "\nmutation testing (gremlins): goal efficacy >= %.0f%%, mutator coverage (mappable) >= %.0f%%\n", effGoal, covGoal)
	fmt.Fprintln(tw, "package\tmutants\tkilled\tlived\tnot covered\tof which unmappable\ttimed out\tefficacy\tcoverage\tcoverage (mappable)\tgoal\tminutes\t")
	var lived []string
	for _, pkg := range pkgs {
		name := strings.TrimPrefix(path.Clean(strings.TrimPrefix(pkg, "./")), "./")
		b, err := os.ReadFile(jsonPath(dir, pkg))
		var r result
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\tno result\t-\t\n", name)
			ok = false
			continue
		}
		// gremlins' mutants_total counts only killed and lived: count from the list.
		all, timedOut, unmapped, runnable := 0, 0, 0, 0
		for _, f := range r.Files {
			for _, m := range f.Mutations {
				all++
				switch {
				case m.Status == "TIMED OUT":
					timedOut++
				case m.Status == "RUNNABLE": // -dry-run: covered, not run
					runnable++
				case m.Status == "NOT COVERED" && unmappable(filepath.Join(name, f.Name), m.Line, m.Column):
					unmapped++
				}
			}
		}
		// The goal is checked on the mutants coverage can place: gremlins v0.5.0 calls
		// every switch case condition and constant NOT COVERED whatever the tests do
		// (gremlins issue 298), so no test can move those.
		mapped := 0.0
		covered := r.Killed + r.Lived + runnable
		if n := covered + r.NotCovered - unmapped; n > 0 {
			mapped = 100 * float64(covered) / float64(n)
		}
		raw := 100 * float64(covered) / float64(max(1, covered+r.NotCovered))
		verdict, eff := "met", fmt.Sprintf("%.1f%%", r.Efficacy)
		switch {
		case runnable > 0:
			verdict, eff, ok = "not run (dry run)", "-", false
		case r.Efficacy < effGoal || mapped < covGoal:
			verdict, ok = "BELOW", false
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%.1f%%\t%.1f%%\t%s\t%.0f\t\n",
			name, all, r.Killed, r.Lived, r.NotCovered, unmapped, timedOut, eff, raw, mapped, verdict, r.Elapsed/60)
		for _, f := range r.Files {
			for _, m := range f.Mutations {
				if m.Status == "LIVED" {
					lived = append(lived, fmt.Sprintf("%s/%s:%d:%d %s", name, f.Name, m.Line, m.Column, m.Type))
				}
			}
		}
	}
	tw.Flush()
	if len(lived) > 0 {
		fmt.Fprintf(w, "\nlived mutants (a test should fail for each, or the mutant is equivalent):\n")
		for _, l := range lived {
			fmt.Fprintln(w, "  "+l)
		}
	}
	return ok
}

// unmappable reports whether a mutant at line:col of file sits where Go's coverage
// profile has no counter, so gremlins v0.5.0 reports it NOT COVERED however well it is
// tested (gremlins issue 298): a condition of a switch case, or a constant or
// package-level variable's value.
func unmappable(file string, line, col int) bool {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, 0)
	if err != nil {
		return false
	}
	in := func(n ast.Node) bool {
		from, to := fset.Position(n.Pos()), fset.Position(n.End())
		after := line > from.Line || line == from.Line && col >= from.Column
		before := line < to.Line || line == to.Line && col < to.Column
		return after && before
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.GenDecl: // package-level const and var values
			if (d.Tok == token.CONST || d.Tok == token.VAR) && in(d) {
				inFunc := false // a function literal's body has counters
				ast.Inspect(d, func(n ast.Node) bool {
					if fl, ok := n.(*ast.FuncLit); ok && in(fl.Body) {
						inFunc = true
					}
					return !inFunc
				})
				return !inFunc
			}
		case *ast.FuncDecl:
			if !in(d) {
				continue
			}
			found := false
			ast.Inspect(d, func(n ast.Node) bool {
				if c, ok := n.(*ast.CaseClause); ok {
					for _, e := range c.List {
						found = found || in(e)
					}
				}
				if g, ok := n.(*ast.GenDecl); ok && g.Tok == token.CONST {
					found = found || in(g)
				}
				return !found
			})
			return found
		}
	}
	return false
}
