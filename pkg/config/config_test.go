package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func newFlags() (*pflag.FlagSet, *int, *string, *time.Duration, *[]string, *map[string]string) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	port := fs.Int("http-port", 8080, "")
	dir := fs.String("state-dir", ".state", "")
	to := fs.Duration("bmc-timeout", time.Minute, "")
	relays := fs.StringSlice("dhcp-relay", nil, "")
	pt := fs.StringToString("phase-timeout", nil, "")
	return fs, port, dir, to, relays, pt
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "serve.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedenceFlagEnvFileDefault(t *testing.T) {
	file := writeFile(t, "http-port: 9000\nstate-dir: /from/file\nbmc-timeout: 2m\ndhcp-relay: [10.0.0.1, 10.0.0.2]\nphase-timeout: {booting: 20m}\n")
	for _, tc := range []struct {
		name     string
		args     []string
		env      map[string]string
		wantPort int
		wantDir  string
		wantFrom string
	}{
		{name: "file over default", wantPort: 9000, wantDir: "/from/file", wantFrom: file + ":1"},
		{name: "env over file", env: map[string]string{"RACKLIFT_HTTP_PORT": "9100"}, wantPort: 9100, wantDir: "/from/file", wantFrom: "RACKLIFT_HTTP_PORT"},
		{name: "flag over env", args: []string{"--http-port=9200"}, env: map[string]string{"RACKLIFT_HTTP_PORT": "9100"}, wantPort: 9200, wantDir: "/from/file"},
		{name: "env for another flag", env: map[string]string{"RACKLIFT_STATE_DIR": "/from/env"}, wantPort: 9000, wantDir: "/from/env", wantFrom: file + ":1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, port, dir, to, relays, pt := newFlags()
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			src, err := Apply(fs, file, true, func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if *port != tc.wantPort || *dir != tc.wantDir {
				t.Errorf("port %d dir %q, want %d %q", *port, *dir, tc.wantPort, tc.wantDir)
			}
			if src["http-port"] != tc.wantFrom {
				t.Errorf("http-port from %q, want %q", src["http-port"], tc.wantFrom)
			}
			if *to != 2*time.Minute || strings.Join(*relays, " ") != "10.0.0.1 10.0.0.2" || (*pt)["booting"] != "20m" {
				t.Errorf("file values: timeout %v relays %v phase %v", *to, *relays, *pt)
			}
		})
	}
}

func TestBadInputNamesWhereAndChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{name: "unknown key", file: "http-port: 9000\nhttp-prot: 1\n", want: ":2: unknown key \"http-prot\""},
		{name: "bad file value", file: "state-dir: /x\nhttp-port: eighty\n", want: ":2: --http-port \"eighty\""},
		{name: "bad env value", file: "state-dir: /x\n", env: map[string]string{"RACKLIFT_BMC_TIMEOUT": "soon"}, want: "RACKLIFT_BMC_TIMEOUT: --bmc-timeout \"soon\""},
		{name: "not a mapping", file: "- a\n- b\n", want: ":1: want a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, port, dir, _, _, _ := newFlags()
			file := writeFile(t, tc.file)
			_, err := Apply(fs, file, true, func(k string) string { return tc.env[k] })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if *port != 8080 || *dir != ".state" {
				t.Errorf("a refused config changed flags: port %d dir %q", *port, *dir)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	fs, port, _, _, _, _ := newFlags()
	missing := filepath.Join(t.TempDir(), "none.yaml")
	if _, err := Apply(fs, missing, false, func(string) string { return "" }); err != nil || *port != 8080 {
		t.Fatalf("optional missing file: err %v port %d", err, *port)
	}
	if _, err := Apply(fs, missing, true, func(string) string { return "" }); err == nil {
		t.Fatal("a named config file that does not exist was accepted")
	}
}
