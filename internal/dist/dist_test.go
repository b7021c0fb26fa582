// Package dist tests `make dist`: the stamped binaries, the Debian packages and what
// lintian, dpkg, man and systemd-analyze say about them.
package dist

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/racklift/racklift/internal/testenv"
)

const (
	version = "9.8.7"
	commit  = "0123456789ab"
	date    = "2026-12-02T01:00:00Z"
)

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestMakeDist builds dist/ into a temporary directory with a known stamp and checks
// every acceptance line of the packaging: lintian has no errors, the packages install
// into a throwaway root with dpkg, provision runs from there and prints the stamp, its man
// page renders, systemd-analyze accepts both units, and the darwin build carries the
// stamp in its build info.
func TestMakeDist(t *testing.T) {
	// Part of make test (minutes on 2 cores: it cross-builds every target and runs
	// lintian); make test-dist runs it alone.
	testenv.NeedRoot(t)
	testenv.Slow(t)
	testenv.NeedCommand(t, "make", "go", "dpkg", "dpkg-deb", "lintian", "man", "systemd-analyze", "file")
	repo := testenv.RepoRoot()
	out := t.TempDir()
	run(t, repo, "make", "dist", "DIST="+out, "DIST_VERSION="+version, "DIST_COMMIT="+commit, "DIST_DATE="+date)

	debs := []string{
		filepath.Join(out, "racklift-provision_"+version+"-1_amd64.deb"),
		filepath.Join(out, "racklift-node-agent_"+version+"-1_amd64.deb"),
	}
	for _, p := range []string{"linux-amd64", "linux-arm64", "darwin-arm64"} {
		testenv.NeedFile(t, filepath.Join(out, "provision-"+version+"-"+p))
	}

	t.Run("lintian has no errors", func(t *testing.T) {
		cmd := exec.Command("lintian", append([]string{"--no-tag-display-limit"}, debs...)...)
		// Its mldbm-* caches would otherwise stay behind in /tmp.
		cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
		b, _ := cmd.CombinedOutput() // exit status 1 on warnings too; the E: lines decide
		if errs := regexp.MustCompile(`(?m)^E: .*$`).FindAllString(string(b), -1); len(errs) > 0 {
			t.Errorf("lintian errors:\n%s", strings.Join(errs, "\n"))
		}
		t.Logf("lintian:\n%s", b)
	})

	root := t.TempDir()
	t.Run("dpkg installs into a throwaway root", func(t *testing.T) {
		for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
			if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		// --force-depends: the empty root has no libc6 package for node-agent's Depends.
		run(t, "/", "dpkg", append([]string{"--root=" + root, "--force-depends", "--force-not-root", "-i"}, debs...)...)
		st := run(t, "/", "dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f=${Package} ${Version} ${Status}\n")
		for _, p := range []string{"racklift-provision", "racklift-node-agent"} {
			if !strings.Contains(st, p+" "+version+"-1 install ok installed") {
				t.Errorf("dpkg-query in the root:\n%s\nwant %s %s-1 installed", st, p, version)
			}
		}
		conf := run(t, "/", "dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f=${Conffiles}\n", "racklift-provision")
		if !strings.Contains(conf, "/etc/racklift/serve.yaml") {
			t.Errorf("serve.yaml is not a conffile: %q", conf)
		}
	})

	t.Run("provision version from the installed root", func(t *testing.T) {
		b := run(t, "/", filepath.Join(root, "usr/bin/provision"), "version", "-o", "json")
		var info struct{ Version, Commit, Date, Platform string }
		if err := json.Unmarshal([]byte(b), &info); err != nil {
			t.Fatalf("provision version -o json: %q: %v", b, err)
		}
		if info.Version != version || info.Commit != commit || info.Date != date {
			t.Errorf("installed provision reports %+v, want %s %s %s", info, version, commit, date)
		}
		if b := run(t, "/", filepath.Join(root, "usr/bin/node-agent"), "version"); !strings.HasPrefix(b, "node-agent "+version+" ") {
			t.Errorf("installed node-agent version: %q", b)
		}
		if b := run(t, "/", "file", filepath.Join(out, "provision-"+version+"-linux-amd64")); !strings.Contains(b, "statically linked") {
			t.Errorf("linux/amd64 provision is not static: %s", b)
		}
	})

	t.Run("man pages render", func(t *testing.T) {
		for page, want := range map[string]string{
			"provision.1.gz":       "bare-metal provisioning",
			"provision-serve.1.gz": "--log-level",
			"node-agent.1.gz":      "node agent",
		} {
			cmd := exec.Command("man", "-l", "-Tutf8", filepath.Join(root, "usr/share/man/man1", page))
			cmd.Env = append(os.Environ(), "MANWIDTH=100", "MAN_KEEP_FORMATTING=0")
			b, err := cmd.CombinedOutput()
			text := strings.NewReplacer("\u2010", "-", "\u2212", "-").Replace(regexp.MustCompile(".\b").ReplaceAllString(string(b), ""))
			if err != nil || !strings.Contains(text, want) {
				t.Errorf("man -l %s: %v, want %q in:\n%s", page, err, want, text)
			}
		}
		for _, f := range []string{"usr/share/bash-completion/completions/provision", "usr/share/zsh/vendor-completions/_provision", "usr/share/fish/vendor_completions.d/provision.fish"} {
			if fi, err := os.Stat(filepath.Join(root, f)); err != nil || fi.Size() == 0 {
				t.Errorf("completion %s: %v", f, err)
			}
		}
	})

	t.Run("systemd-analyze verifies the units", func(t *testing.T) {
		// --root needs the targets the units hang off (sysinit.target, ...): the host's.
		run(t, "/", "sh", "-c", "mkdir -p "+root+"/usr/lib/systemd/system && cp -n /lib/systemd/system/*.target "+root+"/usr/lib/systemd/system/")
		for _, u := range []string{"racklift-provision.service", "racklift-node-agent.service"} {
			unit := filepath.Join(root, "lib/systemd/system", u)
			cmd := exec.Command("systemd-analyze", "verify", "--root="+root, "--man=no", unit)
			b, err := cmd.CombinedOutput()
			if err != nil || strings.Contains(string(b), u) {
				t.Errorf("systemd-analyze verify %s: %v\n%s", u, err, b)
			}
		}
	})

	t.Run("linux/arm64 build prints the stamp under qemu-user", func(t *testing.T) {
		qemu := testenv.NeedCommand(t, "qemu-aarch64-static")[0]
		bin := filepath.Join(out, "provision-"+version+"-linux-arm64")
		if b := run(t, "/", "file", bin); !strings.Contains(b, "ARM aarch64") || !strings.Contains(b, "statically linked") {
			t.Errorf("linux/arm64 provision is not a static aarch64 binary: %s", b)
		}
		b := run(t, "/", qemu, bin, "version", "-o", "json")
		var info struct{ Version, Commit, Date, Platform string }
		if err := json.Unmarshal([]byte(b), &info); err != nil {
			t.Fatalf("provision version -o json under qemu: %q: %v", b, err)
		}
		if info.Version != version || info.Commit != commit || info.Date != date || info.Platform != "linux/arm64" {
			t.Errorf("linux/arm64 provision reports %+v, want %s %s %s linux/arm64", info, version, commit, date)
		}
	})

	t.Run("darwin build carries the stamp", func(t *testing.T) {
		b := run(t, "/", "go", "version", "-m", filepath.Join(out, "provision-"+version+"-darwin-arm64"))
		for _, want := range []string{"GOOS=darwin", "GOARCH=arm64", "CGO_ENABLED=0",
			"-X github.com/racklift/racklift/pkg/version.Version=" + version,
			"-X github.com/racklift/racklift/pkg/version.Commit=" + commit} {
			if !strings.Contains(b, want) {
				t.Errorf("go version -m darwin build lacks %q:\n%s", want, b)
			}
		}
	})
}
