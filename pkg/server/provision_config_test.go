package server

import (
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/lifecycle"
)

func TestProvisionLifecycle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		timeout map[string]string
		want    map[lifecycle.Phase]time.Duration
		wantErr string
	}{
		{name: "none", want: nil},
		{name: "two phases", timeout: map[string]string{"booting": "20m", "validating": "1h"},
			want: map[lifecycle.Phase]time.Duration{lifecycle.Booting: 20 * time.Minute, lifecycle.Validating: time.Hour}},
		{name: "no such phase", timeout: map[string]string{"ready": "1m"},
			wantErr: "--phase-timeout ready=1m: no such timed phase (powering, pxe, booting, agent, validating, deploying, rebooting, installed)"},
		{name: "not a duration", timeout: map[string]string{"pxe": "soon"},
			wantErr: "--phase-timeout pxe=soon: want a positive duration such as 10m"},
		{name: "not positive", timeout: map[string]string{"pxe": "0s"},
			wantErr: "--phase-timeout pxe=0s: want a positive duration such as 10m"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Provision{Wave: 4, Attempts: 2, BMCTimeout: time.Minute, PhaseTimeouts: tc.timeout}
			lc, err := p.lifecycle()
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("lifecycle() error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if lc.Wave != 4 || lc.MaxAttempts != 2 || lc.BMCTimeout != time.Minute || len(lc.Timeouts) != len(tc.want) {
				t.Fatalf("lifecycle() = %+v, want wave 4, 2 attempts, 1m BMC timeout and %v", lc, tc.want)
			}
			for p, d := range tc.want {
				if lc.Timeouts[p] != d {
					t.Errorf("timeout of %s = %v, want %v", p, lc.Timeouts[p], d)
				}
			}
		})
	}
}

// A bad phase timeout is refused before anything is bound or opened.
func TestNewRefusesABadPhaseTimeout(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Inventory: "does-not-exist", StateDir: t.TempDir(),
		Provision: &Provision{PhaseTimeouts: map[string]string{"booting": "-1m"}}})
	if err == nil || err.Error() != "--phase-timeout booting=-1m: want a positive duration such as 10m" {
		t.Fatalf("New = %v, want the phase timeout refused", err)
	}
}
