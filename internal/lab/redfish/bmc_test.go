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

// The vendor-quirk knobs on the wire, as a client that knows none of them meets them.
func TestVirtualBMCQuirkKnobs(t *testing.T) {
	t.Parallel()
	b, c := start(t)
	u := b.URL()
	login := func() (int, string) {
		return do(t, c, "POST", u+"/redfish/v1/SessionService/Sessions", "", `{"UserName":"admin","Password":"pw-123"}`)
	}
	b.SetFaults(Faults{SessionLimit: 1})
	b.OpenSession("admin", "WebUI")
	if code, body := login(); code != 503 || !strings.Contains(body, "SessionLimitExceeded") {
		t.Errorf("login at the session limit: %d %s", code, body)
	}
	b.SetFaults(Faults{RequireIfMatch: true, TaskMonitor: 300 * time.Millisecond, SlowTransition: time.Hour})
	_, tok := login()
	req, _ := http.NewRequest("GET", u+"/redfish/v1/Systems/1", nil)
	req.Header.Set("X-Auth-Token", tok)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sys struct {
		ETag string `json:"@odata.etag"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&sys)
	resp.Body.Close()
	if resp.Header.Get("ETag") != "" || sys.ETag == "" {
		t.Errorf("RequireIfMatch: ETag header %q, @odata.etag %q (want only the body's)", resp.Header.Get("ETag"), sys.ETag)
	}
	reset := u + "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset"
	if code, body := do(t, c, "POST", reset, tok, `{"ResetType":"On"}`); code != 428 || !strings.Contains(body, "PreconditionRequired") {
		t.Errorf("reset without If-Match: %d %s", code, body)
	}
	req, _ = http.NewRequest("POST", reset, strings.NewReader(`{"ResetType":"On"}`))
	req.Header.Set("X-Auth-Token", tok)
	req.Header.Set("If-Match", sys.ETag)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mon := resp.Header.Get("Location")
	if resp.StatusCode != 202 || !strings.HasPrefix(mon, "/redfish/v1/TaskService/TaskMonitors/") {
		t.Fatalf("reset with a task monitor: %d %q", resp.StatusCode, mon)
	}
	if code, _ := do(t, c, "GET", u+mon, tok, ""); code != 202 || machineOn(t, b) {
		t.Errorf("task monitor before the task is done: %d, on=%v", code, machineOn(t, b))
	}
	time.Sleep(600 * time.Millisecond)
	if code, body := do(t, c, "GET", u+mon, tok, ""); code != 200 || !strings.Contains(body, `"Completed"`) || !machineOn(t, b) {
		t.Errorf("task monitor after the task: %d %s, on=%v", code, body, machineOn(t, b))
	}
	if _, body := do(t, c, "GET", u+"/redfish/v1/Systems/1", tok, ""); !strings.Contains(body, `"PoweringOn"`) {
		t.Errorf("slow transition not shown: %s", body)
	}
	b.SetFaults(Faults{IgnorePower: true})
	if code, _ := do(t, c, "POST", reset, tok, `{"ResetType":"ForceOff"}`); code != 204 || !machineOn(t, b) {
		t.Errorf("IgnorePower: %d, on=%v (want 204 and still on)", code, machineOn(t, b))
	}
}

func machineOn(t *testing.T, b *BMC) bool {
	t.Helper()
	on, err := b.Machine().On(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return on
}
