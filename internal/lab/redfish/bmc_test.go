package redfish

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func start(t *testing.T) (*BMC, *http.Client) {
	t.Helper()
	b := New(Config{Username: "admin", Password: "pw-123"})
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	return b, c
}

func do(t *testing.T, c *http.Client, method, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 201 {
		return 201, resp.Header.Get("X-Auth-Token")
	}
	return resp.StatusCode, string(b)
}

// The Redfish surface by hand: auth required, bad values refused, the override
// consumed by one boot, counters over the debug endpoint.
func TestVirtualBMCRedfishSurface(t *testing.T) {
	t.Parallel()
	b, c := start(t)
	u := b.URL()
	if code, _ := do(t, c, "GET", u+"/redfish/v1/", "", ""); code != 200 {
		t.Errorf("service root: %d", code)
	}
	if code, _ := do(t, c, "GET", u+"/redfish/v1/Systems/1", "", ""); code != 401 {
		t.Errorf("system without auth: %d", code)
	}
	if code, _ := do(t, c, "POST", u+"/redfish/v1/SessionService/Sessions", "", `{"UserName":"admin","Password":"nope"}`); code != 401 {
		t.Errorf("wrong password: %d", code)
	}
	code, tok := do(t, c, "POST", u+"/redfish/v1/SessionService/Sessions", "", `{"UserName":"admin","Password":"pw-123"}`)
	if code != 201 || tok == "" {
		t.Fatalf("login: %d %q", code, tok)
	}
	if code, body := do(t, c, "PATCH", u+"/redfish/v1/Systems/1", tok, `{"Boot":{"BootSourceOverrideTarget":"Floppy"}}`); code != 400 || !strings.Contains(body, "PropertyValueNotInList") {
		t.Errorf("bad target: %d %s", code, body)
	}
	if code, _ := do(t, c, "PATCH", u+"/redfish/v1/Systems/1", tok, `{"Boot":{"BootSourceOverrideTarget":"Pxe","BootSourceOverrideEnabled":"Once"}}`); code != 204 {
		t.Errorf("patch: %d", code)
	}
	if code, _ := do(t, c, "POST", u+"/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", tok, `{"ResetType":"Nmi"}`); code != 400 {
		t.Errorf("unsupported reset type: %d", code)
	}
	if code, _ := do(t, c, "POST", u+"/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", tok, `{"ResetType":"On"}`); code != 204 {
		t.Errorf("power on: %d", code)
	}
	if got := b.Machine().(*MemMachine).LastBoot(); got != "Pxe" || b.BootOverride().Enabled != "Disabled" {
		t.Errorf("booted %q, override now %+v", got, b.BootOverride())
	}
	_, body := do(t, c, "GET", u+"/redfish/v1/Systems/1", tok, "")
	var sys struct{ PowerState string }
	if err := json.Unmarshal([]byte(body), &sys); err != nil || sys.PowerState != "On" {
		t.Errorf("system: %v %s", err, body)
	}
	_, body = do(t, c, "GET", u+"/lab/counters", "", "")
	var cnt Counts
	if err := json.Unmarshal([]byte(body), &cnt); err != nil || cnt.PowerOn != 1 || cnt.BootOverrides != 1 || cnt.FailedLogins != 1 || cnt.Logins != 1 {
		t.Errorf("debug counters: %v %s", err, body)
	}
	// Stale ETag refused.
	req, _ := http.NewRequest("PATCH", u+"/redfish/v1/Systems/1", strings.NewReader(`{"Boot":{"BootSourceOverrideTarget":"Hdd"}}`))
	req.Header.Set("X-Auth-Token", tok)
	req.Header.Set("If-Match", `W/"0"`)
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 412 {
		t.Errorf("stale If-Match: %v %v", resp.StatusCode, err)
	}
}

func TestVirtualBMCFaults(t *testing.T) {
	t.Parallel()
	b, c := start(t)
	b.Unavailable(time.Hour)
	if code, _ := do(t, c, "GET", b.URL()+"/redfish/v1/", "", ""); code != 503 {
		t.Errorf("unavailable: %d", code)
	}
	b.Unavailable(0)
	b.SetFaults(Faults{Latency: 300 * time.Millisecond})
	t0 := time.Now()
	do(t, c, "GET", b.URL()+"/redfish/v1/", "", "")
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Errorf("latency not applied: %v", d)
	}
	b.SetFaults(Faults{Hang: true})
	c.Timeout = 500 * time.Millisecond
	if _, err := c.Get(b.URL() + "/redfish/v1/"); err == nil {
		t.Error("hung BMC answered")
	}
	b.SetFaults(Faults{})
	if err := b.Refuse(time.Hour); err != nil {
		t.Fatal(err)
	}
	c.Transport.(*http.Transport).CloseIdleConnections()
	if _, err := c.Get(b.URL() + "/redfish/v1/"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("refusing BMC: %v", err)
	}
}
