package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/lifecycle"
)

type lastReport struct {
	raw    []byte
	pass   bool
	reason string
}

func (r *lastReport) Handle(lifecycle.Event) (lifecycle.Phase, error) { return "", nil }
func (r *lastReport) Report(node string, raw []byte, pass bool, reason string) (lifecycle.Phase, error) {
	r.raw, r.pass, r.reason = raw, pass, reason
	return "", nil
}

// TestJudgeAddsServerChecks: serve's own verdict on a report (the LLDP cabling) joins the
// agent's results, decides pass or fail and is stored with the report.
func TestJudgeAddsServerChecks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		judge  JudgeFunc
		pass   bool
		reason string
	}{
		{name: "no judge", pass: true},
		{name: "judge passes", judge: func(string, *check.Report) []check.Result {
			return []check.Result{{Name: "lldp.eth1.cabling", Status: check.Pass}}
		}, pass: true},
		{name: "judge fails", judge: func(node string, rep *check.Report) []check.Result {
			if node != "gpu-01" || len(rep.LLDP) != 1 || rep.LLDP[0].SystemName != "leaf-a02" {
				t.Errorf("judge got %s %+v", node, rep.LLDP)
			}
			return []check.Result{{Name: "lldp.eth1.cabling", Status: check.Fail, Message: "eth1 is cabled to leaf-a02 Ethernet7"}}
		}, reason: "lldp.eth1.cabling: eth1 is cabled to leaf-a02 Ethernet7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &lastReport{}
			h := AgentHandler(AgentConfig{Tokens: anyToken{}, Lifecycle: rec, Judge: tc.judge})
			body := `{"node":"gpu-01","results":[{"name":"gpu.count","status":"pass"}],"lldp":[{"interface":"eth1","heard":true,"system_name":"leaf-a02","port_id":"Ethernet7"}]}`
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/v1/nodes/gpu-01/report", strings.NewReader(body)))
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if rec.pass != tc.pass || rec.reason != tc.reason {
				t.Errorf("pass %v reason %q, want %v %q", rec.pass, rec.reason, tc.pass, tc.reason)
			}
			stored, err := check.ParseReport(rec.raw)
			if err != nil || len(stored.LLDP) != 1 {
				t.Fatalf("stored report: %v %+v", err, stored)
			}
			if tc.judge != nil && !bytes.Contains(rec.raw, []byte(`"lldp.eth1.cabling"`)) {
				t.Errorf("serve's check is not in the stored report: %s", rec.raw)
			}
		})
	}
}
