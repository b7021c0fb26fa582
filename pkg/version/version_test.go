package version

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestCommandPrintsStampedValues(t *testing.T) {
	Version, Commit, Date = "1.2.3", "abc1234", "2026-12-02T00:00:00Z"
	t.Cleanup(func() { Version, Commit, Date = "dev", "unknown", "unknown" })
	for _, tc := range []struct {
		name, format string
		check        func(t *testing.T, out string)
	}{
		{name: "table", format: "table", check: func(t *testing.T, out string) {
			if !strings.HasPrefix(out, "prog 1.2.3 (commit abc1234, built 2026-12-02T00:00:00Z") {
				t.Errorf("table output = %q", out)
			}
		}},
		{name: "json", format: "json", check: func(t *testing.T, out string) {
			var got Info
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("json output %q: %v", out, err)
			}
			if got.Version != "1.2.3" || got.Commit != "abc1234" || got.Program != "prog" || got.Platform == "" {
				t.Errorf("json output = %+v", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := Command("prog", func() string { return tc.format })
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetArgs(nil)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			tc.check(t, out.String())
		})
	}
}
