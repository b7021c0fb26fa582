package main

import (
	"encoding/json"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/racklift/racklift/pkg/dhcp"
	"github.com/racklift/racklift/pkg/state"
)

// complete runs cobra's hidden __complete command, as the shell scripts do, and returns
// the candidates (descriptions cut off) and the directive line.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	out, errOut, code := runCLI(t, append([]string{"__complete"}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %v: %d %s", args, code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var cands []string
	for _, l := range lines[:len(lines)-1] {
		c, _, _ := strings.Cut(l, "\t")
		cands = append(cands, c)
	}
	return cands, lines[len(lines)-1]
}

// Completion offers the inventory's nodes, racks, roles and labels where they belong,
// never files.
func TestCompletion(t *testing.T) {
	t.Parallel()
	site := repo("inventory/examples/site")
	tests := []struct {
		name string
		args []string
		want []string
		dir  string // the directive line: :4 no files, :6 no files and no space
	}{
		{name: "power cycle node prefix", args: []string{"-i", site, "power", "cycle", "gpu-a01-0"},
			want: []string{"gpu-a01-01", "gpu-a01-02", "gpu-a01-03", "gpu-a01-04"}, dir: ":4"},
		{name: "power action", args: []string{"-i", site, "power", "c"}, want: []string{"cycle"}, dir: ":4"},
		{name: "rack values", args: []string{"-i", site, "up", "rack="}, want: []string{"rack=a01", "rack=a02"}, dir: ":4"},
		{name: "keys need no space", args: []string{"-i", site, "status", "r"}, want: []string{"rack=", "role="}, dir: ":6"},
		{name: "label values", args: []string{"-i", site, "inventory", "list", "pool="}, want: []string{"pool=research"}, dir: ":4"},
		{name: "second term", args: []string{"-i", site, "power", "status", "rack=a02,gpu-a02-0"},
			want: []string{"rack=a02,gpu-a02-01", "rack=a02,gpu-a02-02", "rack=a02,gpu-a02-03", "rack=a02,gpu-a02-04"}, dir: ":4"},
		{name: "bad inventory", args: []string{"-i", t.TempDir(), "power", "cycle", "gpu"}, want: nil, dir: ":1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, dir := complete(t, tc.args...)
			if !slices.Equal(got, tc.want) || dir != tc.dir {
				t.Errorf("__complete %v = %q %s, want %q %s", tc.args, got, dir, tc.want, tc.dir)
			}
		})
	}
}

// Hostlist ranges and the in/notin/!= forms select through every command's selectors.
func TestSelectorForms(t *testing.T) {
	t.Parallel()
	site := repo("inventory/examples/site")
	tests := []struct {
		sel  []string
		want string
	}{
		{sel: []string{"gpu-a01-[01-03]"}, want: "gpu-a01-01 gpu-a01-02 gpu-a01-03"},
		{sel: []string{"gpu-a0[1-2]-[01,04]"}, want: "gpu-a01-01 gpu-a01-04 gpu-a02-01 gpu-a02-04"},
		{sel: []string{"rack in (a02),role=gpu,gpu-a02-[02-04]"}, want: "gpu-a02-02 gpu-a02-03 gpu-a02-04"},
		{sel: []string{"rack!=a01", "gpu-a01-01"}, want: "gpu-a01-01 gpu-a02-01 gpu-a02-02 gpu-a02-03 gpu-a02-04"},
		{sel: []string{"rack notin (a01)"}, want: "gpu-a02-01 gpu-a02-02 gpu-a02-03 gpu-a02-04"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.sel, " "), func(t *testing.T) {
			out, errOut, code := runCLI(t, append([]string{"inventory", "list", "-i", site, "-o", "name"}, tc.sel...)...)
			if got := strings.Join(strings.Fields(out), " "); code != 0 || got != tc.want {
				t.Errorf("-o name %v: %d %q %s, want %q", tc.sel, code, got, errOut, tc.want)
			}
		})
	}
	// A range naming nodes the inventory lacks is a usage error naming them; nothing is done.
	_, errOut, code := runCLI(t, "power", "cycle", "gpu-a01-[03-06]", "-i", site, "--dry-run")
	if code != 2 || !strings.Contains(errOut, "2 of 4 names are not in the inventory: gpu-a01-05, gpu-a01-06") {
		t.Errorf("range past the rack: %d %q", code, errOut)
	}
}

// -o wide adds columns, -o name prints names only, --no-headers drops the header row.
func TestOutputForms(t *testing.T) {
	t.Parallel()
	site := repo("inventory/examples/site")
	out, _, code := runCLI(t, "inventory", "list", "-i", site, "rack=a01")
	header, _, _ := strings.Cut(out, "\n")
	if code != 0 || !strings.HasPrefix(header, "NODE ") || strings.Contains(header, "SOURCE") {
		t.Errorf("table: %d\n%s", code, out)
	}
	out, _, _ = runCLI(t, "inventory", "list", "-i", site, "rack=a01", "-o", "wide")
	header, _, _ = strings.Cut(out, "\n")
	if !strings.Contains(header, "INTERFACES") || !strings.Contains(header, "SOURCE") || !regexp.MustCompile(`racks/a01\.yaml:\d+:\d+`).MatchString(out) {
		t.Errorf("-o wide lacks the wide columns:\n%s", out)
	}
	out, _, _ = runCLI(t, "inventory", "list", "-i", site, "rack=a01", "--no-headers")
	if strings.Contains(out, "NODE") || len(strings.Split(strings.TrimSpace(out), "\n")) != 4 || !strings.HasPrefix(out, "gpu-a01-01 ") {
		t.Errorf("--no-headers:\n%s", out)
	}
	out, _, _ = runCLI(t, "inventory", "list", "-i", site, "rack=a01", "-o", "name")
	if out != "gpu-a01-01\ngpu-a01-02\ngpu-a01-03\ngpu-a01-04\n" {
		t.Errorf("-o name: %q", out)
	}
	if _, errOut, code := runCLI(t, "export", "ansible", "-i", site, "-o", "name"); code == 0 || !strings.Contains(errOut, "-o name") {
		t.Errorf("-o name on a command without a table: %d %q", code, errOut)
	}
}

// Exit statuses tell a typo from a broken inventory from failed nodes.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	site := repo("inventory/examples/site")
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{name: "unknown flag", args: []string{"status", "--bogus"}, code: 2, msg: "unknown flag: --bogus"},
		{name: "unknown command", args: []string{"stauts"}, code: 2, msg: "unknown command"},
		{name: "missing argument", args: []string{"report"}, code: 2, msg: "accepts 1 arg"},
		{name: "bad -o", args: []string{"inventory", "list", "-i", site, "-o", "xml"}, code: 2, msg: `unknown output format "xml"`},
		{name: "bad --log-level", args: []string{"inventory", "list", "-i", site, "--log-level", "loud"}, code: 2, msg: `--log-level "loud"`},
		{name: "no such node", args: []string{"power", "status", "-i", site, "gpu-z01-01"}, code: 2, msg: `no node named "gpu-z01-01"`},
		{name: "unknown power action", args: []string{"power", "jump", "-i", site, "all"}, code: 2, msg: `unknown power action "jump"`},
		{name: "broken inventory", args: []string{"inventory", "list", "-i", repo("inventory/testdata/broken")}, code: 3, msg: "38 error(s) in the inventory"},
		{name: "all refused", args: []string{"power", "cycle", "-i", site, "gpu-a01-04", "--dry-run"}, code: 5, msg: "1 of 1 nodes failed"},
		{name: "some refused", args: []string{"power", "cycle", "-i", site, "gpu-a01-0[34]", "--dry-run"}, code: 4, msg: "1 of 2 nodes failed"},
		{name: "serve unreachable", args: []string{"status", "--api", "http://127.0.0.1:1"}, code: 6, msg: "127.0.0.1:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Errorf("%v: exit %d %q, want %d with %q", tc.args, code, errOut, tc.code, tc.msg)
			}
		})
	}
	out, _, _ := runCLI(t, "--help")
	for _, want := range []string{"Exit status:", "2  usage", "3  the inventory", "4  some of the selected nodes failed", "5  all", "6  serve cannot be reached"} {
		if !strings.Contains(out, want) {
			t.Errorf("provision --help lacks %q", want)
		}
	}
}

// Every flag's help reads as written: pflag takes a `quoted` word in a flag's usage as
// the value's name, which garbled up's --no-follow line into "--no-follow provision status".
func TestFlagHelpIsNotGarbled(t *testing.T) {
	t.Parallel()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if strings.Contains(f.Usage, "`") {
				t.Errorf("%s --%s: backquotes in its usage (%q) become the value's name in --help", c.CommandPath(), f.Name, f.Usage)
			}
		})
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRoot())
	out, _, _ := runCLI(t, "up", "--help")
	if !strings.Contains(out, "--no-follow   ") || strings.Contains(out, "--no-follow provision") {
		t.Errorf("up --help:\n%s", out)
	}
}

// discovered reads the state serve writes: --state-dir and RACKLIFT_STATE_DIR, not a
// shadowing flag of its own. Not parallel: it sets the environment.
func TestDiscoveredFollowsStateDir(t *testing.T) {
	dir := t.TempDir()
	d, err := dhcp.OpenDiscovered(dir)
	if err != nil {
		t.Fatal(err)
	}
	d.Record(net.HardwareAddr{0x52, 0x54, 0, 0xaa, 0xbb, 0xcc}, dhcp.Client{VendorClass: "PXEClient && <x>"}, "eno1", "provisioning")
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Setenv(state.DirEnv, dir)
	out, errOut, code := runCLI(t, "discovered", "-o", "json")
	var recs []dhcp.Record
	if err := json.Unmarshal([]byte(out), &recs); err != nil || code != 0 || len(recs) != 1 || recs[0].MAC != "52:54:00:aa:bb:cc" {
		t.Fatalf("discovered with %s=%s: %d %v %q %s", state.DirEnv, dir, code, err, out, errOut)
	}
	// JSON keeps && and <> as they are, not \u0026\u0026 and \u003c.
	if !strings.Contains(out, `"PXEClient && <x>"`) {
		t.Errorf("JSON escapes shell and markup characters:\n%s", out)
	}
	out, _, _ = runCLI(t, "discovered", "--state-dir", t.TempDir(), "-o", "json")
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("--state-dir does not override the environment: %s", out)
	}
}
