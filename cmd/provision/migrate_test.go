package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	labetcd "github.com/racklift/racklift/internal/lab/etcd"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/state"
)

// `provision state migrate` copies state.db into etcd and says what it copied; a
// second run into the same prefix is refused; bad flags are named and change nothing.
func TestStateMigrateCommand(t *testing.T) {
	testenv.Slow(t)
	c := labetcd.Start(t, 3)
	dir := t.TempDir()
	s, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if _, err := s.Update(fmt.Sprintf("gpu-%02d", i%3), func(n *state.Node) ([]state.Event, error) {
			n.Phase = "ready"
			return []state.Event{{Kind: "agent.report.pass"}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	eps := strings.Join(c.Endpoints(), ",")
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{name: "no endpoints", args: []string{"state", "migrate", "--state-dir", dir}, wantCode: 2, wantErr: "--etcd-endpoints"},
		{name: "not a URL", args: []string{"state", "migrate", "--state-dir", dir, "--etcd-endpoints", "10.0.0.1:2379"}, wantCode: 2, wantErr: `"10.0.0.1:2379"`},
		{name: "cert without key", args: []string{"state", "migrate", "--state-dir", dir, "--etcd-endpoints", "https://127.0.0.1:1", "--etcd-cert", "c.pem"}, wantCode: 2, wantErr: "--etcd-key"},
		{name: "migrates", args: []string{"state", "migrate", "--state-dir", dir, "--etcd-endpoints", eps, "--etcd-prefix", "/site-a/"}, wantOut: "migrated 3 nodes and 6 events (last sequence number 6) from " + filepath.Join(dir, state.FileName)},
		{name: "not into a used prefix", args: []string{"state", "migrate", "--state-dir", dir, "--etcd-endpoints", eps, "--etcd-prefix", "/site-a/"}, wantCode: 1, wantErr: "/site-a/ already holds 3 nodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, tc.args...)
			if code != tc.wantCode || !strings.Contains(out, tc.wantOut) || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("code %d (want %d)\nout %q (want %q)\nerr %q (want %q)", code, tc.wantCode, out, tc.wantOut, errOut, tc.wantErr)
			}
		})
	}
	st, err := state.OpenEtcd(state.EtcdConfig{Endpoints: c.Endpoints(), Prefix: "/site-a/"}, state.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ns, err := st.List()
	if err != nil || len(ns) != 3 || ns[0].Name != "gpu-00" || ns[0].Phase != "ready" {
		t.Errorf("etcd after migrate: %+v, %v", ns, err)
	}
}
