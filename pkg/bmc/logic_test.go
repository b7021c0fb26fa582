package bmc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stmcginnis/gofish/common"
	rf "github.com/stmcginnis/gofish/redfish"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/inventory"
)

// Power states as Redfish and ipmitool write them: a wrong mapping would make a power
// on wait for a state it never reads, or report "off" for a machine on its way up.
func TestNormalizePower(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"On": "on", " ON ": "on", "Chassis Power is on": "on", "Chassis Power is on\n": "on",
		"Off": "off", "Chassis Power is off": "off",
		"PoweringOn": "powering on", "PoweringOff": "powering off",
		"Paused": "paused", "": "",
	} {
		if got := normalizePower(in); got != want {
			t.Errorf("normalizePower(%q) = %q, want %q", in, got, want)
		}
	}
	if !transitional("powering on") || !transitional("powering off") || transitional("on") || transitional("off") {
		t.Error("transitional: only powering on and powering off are transitions")
	}
	if transitName("off") != "PoweringOff" || transitName("on") != "PoweringOn" {
		t.Error("transitName")
	}
}

// What an operation is called, what the lock policy guards and how an override reads.
func TestOpNamesAndPolicy(t *testing.T) {
	t.Parallel()
	pxe, disk, bios := &Boot{Device: BootPXE}, &Boot{Device: BootDisk}, &Boot{Device: BootBIOS}
	for _, tc := range []struct {
		op         Op
		name       string
		interrupts bool
	}{
		{op: Op{Info: true}, name: "bmc info"},
		{op: Op{Info: true, Power: PowerOff}, name: "bmc info"},
		{op: Op{Boot: pxe, Power: PowerOn}, name: "boot pxe + power on", interrupts: true},
		{op: Op{Boot: pxe, Power: PowerStatus}, name: "boot pxe", interrupts: true},
		{op: Op{Boot: disk}, name: "boot disk"},
		{op: Op{Boot: disk, Power: PowerCycle}, name: "boot disk + power cycle"},
		{op: Op{Boot: bios}, name: "boot bios", interrupts: true},
		{op: Op{Power: PowerStatus}, name: "power status"},
		{op: Op{Power: PowerOn}, name: "power on"},
		{op: Op{Power: PowerOff}, name: "power off", interrupts: true},
		{op: Op{Power: PowerSoft}, name: "power soft", interrupts: true},
		{op: Op{Power: PowerCycle}, name: "power cycle", interrupts: true},
		{op: Op{Power: PowerReset}, name: "power reset", interrupts: true},
	} {
		if got := tc.op.Name(); got != tc.name {
			t.Errorf("%+v: name %q, want %q", tc.op, got, tc.name)
		}
		if got := tc.op.interrupts(); got != tc.interrupts {
			t.Errorf("%s: interrupts %v, want %v", tc.name, got, tc.interrupts)
		}
	}
	for _, a := range PowerActions {
		want := a != PowerStatus && a != PowerOn
		if Destructive(a) != want {
			t.Errorf("Destructive(%s) = %v", a, !want)
		}
	}
	for b, want := range map[Boot]string{
		{Device: BootPXE}:                                  "pxe, once, UEFI",
		{Device: BootPXE, Persistent: true}:                "pxe, persistent, UEFI",
		{Device: BootDisk, Legacy: true}:                   "disk, once, legacy",
		{Device: BootBIOS, Persistent: true, Legacy: true}: "bios, persistent, legacy",
	} {
		if got := b.String(); got != want {
			t.Errorf("%+v: %q, want %q", b, got, want)
		}
	}
}

// The part of the deadline kept for the last read-back: a tenth, within 100 ms and 2 s.
func TestSettleReserve(t *testing.T) {
	t.Parallel()
	for in, want := range map[time.Duration]time.Duration{
		500 * time.Millisecond:  100 * time.Millisecond,
		time.Second:             100 * time.Millisecond,
		1500 * time.Millisecond: 150 * time.Millisecond,
		10 * time.Second:        time.Second,
		20 * time.Second:        2 * time.Second,
		time.Minute:             2 * time.Second,
	} {
		if got := settleReserve(in); got != want {
			t.Errorf("settleReserve(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	o := Options{}.withDefaults()
	if o.Timeout != DefaultTimeout || o.Warn != os.Stderr || o.Backoff != 250*time.Millisecond || o.MaxBackoff != 5*time.Second {
		t.Errorf("defaults %+v", o)
	}
	var w bytes.Buffer
	set := Options{Timeout: time.Second, Warn: &w, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
	if got := set.withDefaults(); got.Timeout != time.Second || got.Warn != &w || got.Backoff != time.Millisecond || got.MaxBackoff != 2*time.Millisecond {
		t.Errorf("set options overridden: %+v", got)
	}
	neg := Options{Timeout: -1, Backoff: -1, MaxBackoff: -1}.withDefaults()
	if neg.Timeout != DefaultTimeout || neg.Backoff != 250*time.Millisecond || neg.MaxBackoff != 5*time.Second {
		t.Errorf("negative options kept: %+v", neg)
	}
}

// A stall is twice the median of the latest successes, at least a second, and only
// once five jobs have succeeded.
func TestMedianStallAfter(t *testing.T) {
	t.Parallel()
	ms := func(v ...int) *median {
		m := &median{}
		for _, x := range v {
			m.add(time.Duration(x) * time.Millisecond)
		}
		return m
	}
	if _, ok := ms(1, 2, 3, 4).stallAfter(); ok {
		t.Error("a stall limit after four successes")
	}
	for _, tc := range []struct {
		name string
		m    *median
		want time.Duration
	}{
		{name: "at least a second", m: ms(100, 200, 300, 400, 500), want: time.Second},
		{name: "twice the median", m: ms(5000, 1000, 3000, 2000, 4000), want: 6 * time.Second},
		{name: "upper median of an even count", m: ms(1000, 2000, 3000, 4000, 5000, 6000), want: 8 * time.Second},
	} {
		got, ok := tc.m.stallAfter()
		if !ok || got != tc.want {
			t.Errorf("%s: %v %v, want %v", tc.name, got, ok, tc.want)
		}
	}
	// Only the latest 101 count: 60 slow ones, then 101 of 2 s.
	m := &median{}
	for range 60 {
		m.add(time.Minute)
	}
	for range 101 {
		m.add(2 * time.Second)
	}
	if got, _ := m.stallAfter(); got != 4*time.Second {
		t.Errorf("latest 101: %v, want 4s", got)
	}
	// 102 entries: the oldest (slow) one no longer counts.
	m = &median{}
	for range 51 {
		m.add(time.Minute)
	}
	for range 51 {
		m.add(2 * time.Second)
	}
	if got, _ := m.stallAfter(); got != 4*time.Second {
		t.Errorf("102 entries: %v, want 4s (the oldest dropped)", got)
	}
}

func TestRefusalString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		r    Refusal
		want string
	}{
		{r: Refusal{Status: 409, MessageID: "Base.1.8.ActionNotSupported", Message: "locked", Request: "POST /x"},
			want: "HTTP 409 Base.1.8.ActionNotSupported: locked (POST /x)"},
		{r: Refusal{Status: 400, Request: "PATCH /y"}, want: "HTTP 400 (PATCH /y)"},
		{r: Refusal{Status: 200, MessageID: "TaskException", Message: "no", Request: "POST /z"},
			want: "the task it started for the request ended TaskException: no (POST /z)"},
		{r: Refusal{Status: 399, Message: "m", Request: "GET /"}, want: "the task it started for the request ended: m (GET /)"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.want)
		}
	}
}

func TestSanitizeBounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{in: "a\x1fb\x7fc\u0080d\u009fe\u00a1f", max: 100, want: "a b c d e\u00a1f"},
		{in: "12345", max: 5, want: "12345"},
		{in: "123456", max: 5, want: "12345…"},
		{in: "aé", max: 2, want: "a…"},
		{in: "éa", max: 1, want: "…"},
		{in: "  lead  trail  ", max: 100, want: "lead trail"},
	} {
		if got := Sanitize(tc.in, tc.max); got != tc.want {
			t.Errorf("Sanitize(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

// timeoutNetErr is a net.Error that times out with a message saying nothing of it.
type timeoutNetErr struct{}

func (timeoutNetErr) Error() string   { return "read tcp: stalled" }
func (timeoutNetErr) Timeout() bool   { return true }
func (timeoutNetErr) Temporary() bool { return false }

var _ net.Error = timeoutNetErr{}

// What is retried (the BMC busy or restarting), what is a busy answer at the deadline,
// and what is a timeout: a wrong call retries a refusal or gives up on a reboot.
func TestRetryBusyTimeout(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := fmt.Errorf("read: %w", syscall.ECONNRESET)
	for _, tc := range []struct {
		name                    string
		err                     error
		retry, busy, timeoutErr bool
	}{
		{name: "refused errno", err: refused, retry: true, busy: true},
		{name: "refused text", err: errors.New("dial tcp 10.0.0.1:443: connect: connection refused"), retry: true, busy: true},
		{name: "reset errno", err: reset, retry: true},
		{name: "reset text", err: errors.New("read tcp: connection reset by peer"), retry: true},
		{name: "gofish 503", err: errors.New(`503: {"error":{}}`), retry: true, busy: true},
		{name: "tidy 503", err: errors.New("HTTP 503 busy"), retry: true, busy: true},
		{name: "503 message id", err: errors.New("Base.1.8.ServiceTemporarilyUnavailable"), retry: true, busy: true},
		{name: "port 45031", err: errors.New(`Get "https://127.0.0.1:45031/": EOF`)},
		{name: "401", err: errors.New("HTTP 401 unauthorized")},
		{name: "deadline", err: context.DeadlineExceeded, timeoutErr: true},
		{name: "wrapped deadline", err: fmt.Errorf("op: %w", context.DeadlineExceeded), timeoutErr: true},
		{name: "net timeout", err: timeoutNetErr{}, timeoutErr: true},
		{name: "client timeout text", err: errors.New("(Client.Timeout exceeded while awaiting headers)"), timeoutErr: true},
		{name: "i/o timeout text", err: errors.New("read tcp 1.2.3.4:443: i/o timeout"), timeoutErr: true},
		{name: "deadline text", err: errors.New("gofish: context deadline exceeded"), timeoutErr: true},
		{name: "canceled", err: context.Canceled},
	} {
		if got := retryable(tc.err); got != tc.retry {
			t.Errorf("%s: retryable %v, want %v", tc.name, got, tc.retry)
		}
		if got := busyAnswer(tc.err); got != tc.busy {
			t.Errorf("%s: busyAnswer %v, want %v", tc.name, got, tc.busy)
		}
		if got := timeoutErr(tc.err); got != tc.timeoutErr {
			t.Errorf("%s: timeoutErr %v, want %v", tc.name, got, tc.timeoutErr)
		}
	}
	if retryable(nil) {
		t.Error("retryable(nil)")
	}
}

func TestClassifyKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		msg, protocol string
		kind          ErrorKind
		hint          string
	}{
		{msg: "certificate fingerprint mismatch: the BMC presented", kind: KindTLS, hint: "pin the new one"},
		{msg: "x509: certificate signed by unknown authority", kind: KindTLS, hint: "tls.ca_file"},
		{msg: "remote error: tls: bad certificate", kind: KindTLS, hint: "tls.ca_file"},
		{msg: "remote error: tls: handshake failure", kind: KindOther},
		{msg: "HTTP 401 nope", kind: KindAuth},
		{msg: "Unauthorized", kind: KindAuth},
		{msg: "Base.InsufficientPrivilege", kind: KindAuth},
		{msg: "Authorization Error", kind: KindAuth},
		{msg: "RAKP 2 HMAC is invalid", kind: KindAuth},
		{msg: "Unable to establish IPMI v2 / RMCP+ session", kind: KindAuth},
		{msg: "Invalid user name", kind: KindAuth},
		{msg: "wrong password", kind: KindAuth},
		{msg: "context deadline exceeded", kind: KindTimeout},
		{msg: "i/o timeout", kind: KindTimeout},
		{msg: "context canceled", kind: KindTimeout},
		{msg: "HTTP 503 busy", kind: KindUnavailable},
		{msg: "ServiceTemporarilyUnavailable", kind: KindUnavailable},
		{msg: "connect: connection refused", protocol: "redfish", kind: KindConnRefused, hint: "Redfish port"},
		{msg: "connect: connection refused", protocol: "ipmi", kind: KindConnRefused, hint: "the BMC refused the connection"},
		{msg: "connect: no route to host", kind: KindUnreachable},
		{msg: "connect: network is unreachable", kind: KindUnreachable},
		{msg: "lookup bmc.example: no such host", kind: KindUnreachable},
		{msg: "something else", kind: KindOther},
	} {
		kind, hint := classify(tc.msg, tc.protocol)
		if kind != tc.kind || !strings.Contains(hint, tc.hint) || (kind == KindOther) != (hint == "") {
			t.Errorf("%q (%s): %s %q, want %s with %q", tc.msg, tc.protocol, kind, hint, tc.kind, tc.hint)
		}
	}
}

func TestTidy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{in: "2 errors occurred:\n\t* provider: gofish: 503: {\"error\":{\"message\":\"busy\"}}\n\t* no Opener implementations found\n\n",
			want: "provider: gofish: HTTP 503 busy"},
		{in: "1 error occurred:\n\t* provider: gofish: 409: {\"error\":{\"message\":\"m\",\"@Message.ExtendedInfo\":[{\"MessageId\":\"Base.1.8.X\",\"Message\":\"locked\"}]}} tail\n",
			want: "provider: gofish: HTTP 409 Base.1.8.X: locked tail"},
		{in: "3 errors occurred:\n\t* a\n\t* b\n\t* failed to set power state\n", want: "a; b"},
		{in: "x 503: {\"error\":broken", want: "x 503: {\"error\":broken"},
		{in: "a long prefix before it; 1 error occurred: x", want: "a long prefix before it; 1 error occurred: x"},
		{in: "plain", want: "plain"},
		// Where the library's "N error(s) occurred" may stand: at the start, within 12 bytes.
		{in: "error occurred: x", want: "x"},
		{in: "errors occurred: x", want: "x"},
		{in: "abcdefghij error occurred: x", want: "x"},
		{in: "abcdefghijk error occurred: x", want: "abcdefghijk error occurred: x"},
		{in: "abcdefghij errors occurred: x", want: "x"},
		{in: "abcdefghijk errors occurred: x", want: "abcdefghijk errors occurred: x"},
		// gofish's status at the very start.
		{in: `503: {"error":{"message":"busy"}}`, want: "HTTP 503 busy"},
	} {
		if got := tidy(tc.in); got != tc.want {
			t.Errorf("tidy(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestErrorTextAndAnswered(t *testing.T) {
	t.Parallel()
	e := &Error{Node: "n1", BMC: "https://h:443", Op: "power on", Msg: "m", Hint: "h"}
	if got := e.Error(); got != "node n1 (BMC https://h:443): power on: m (h)" {
		t.Errorf("%q", got)
	}
	if got := (&Error{Node: "n1", Msg: "m"}).Error(); got != "node n1: m" {
		t.Errorf("%q", got)
	}
	answered := map[ErrorKind]bool{KindRefused: true, KindAuth: true, KindSessionLimit: true, KindUnavailable: true,
		KindNotApplied: true, KindInTransition: true, KindBootDropped: true, KindBootChanged: true}
	for _, k := range []ErrorKind{KindTimeout, KindConnRefused, KindTLS, KindUnreachable, KindRefused, KindAuth, KindSessionLimit,
		KindUnavailable, KindNotApplied, KindInTransition, KindBootDropped, KindBootChanged, KindConfig, KindSecret, KindOther} {
		if got := (&Error{Kind: k}).Answered(); got != answered[k] {
			t.Errorf("%s: Answered %v", k, got)
		}
	}
	if ResultOf(nil) != "ok" || ResultOf(&Error{Kind: KindAuth}) != "auth" || ResultOf(&Error{}) != "other" ||
		ResultOf(errors.New("x")) != "other" || ResultOf(fmt.Errorf("w: %w", &Error{Kind: KindTLS})) != "tls" {
		t.Error("ResultOf")
	}
}

func TestRedactNothingWithoutPassword(t *testing.T) {
	t.Parallel()
	if got := Redact("user admin said", "admin", ""); got != "user admin said" {
		t.Errorf("%q", got)
	}
	if got := Redact("pw=s3cr%21t", "", "s3cr!t"); got != "pw=<redacted>" {
		t.Errorf("%q", got)
	}
}

// The error texts of an override the BMC did not keep and of a change not applied.
func TestDroppedAndNotAppliedText(t *testing.T) {
	t.Parallel()
	want := Boot{Device: BootPXE}
	ch := &dropped{want: want, got: Boot{Device: BootPXE, Persistent: true}}
	dr := &dropped{want: want, got: Boot{Device: "none"}, again: true}
	if !ch.changed() || ch.verb() != "changed" || dr.changed() || dr.verb() != "dropped" {
		t.Error("changed/dropped")
	}
	if got := ch.Error(); got != "the BMC accepted the boot override (pxe, once, UEFI) but reading it back shows (pxe, persistent, UEFI): it changed the setting" {
		t.Errorf("%q", got)
	}
	if got := dr.Error(); !strings.HasSuffix(got, "it dropped the setting, also after it was set once more") {
		t.Errorf("%q", got)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	na := &notApplied{NotApplied{Asked: "power on", AcceptedAt: at, StillReports: "off", ForSeconds: 8.04}}
	if got := na.Error(); got != "the BMC accepted power on at 03:04:05 and still reports off after 8.0s" {
		t.Errorf("%q", got)
	}
	na.StillReports = "powering on"
	if got := na.Error(); got != "the BMC accepted power on at 03:04:05 and is still in transition, reporting powering on after 8.0s" {
		t.Errorf("%q", got)
	}
	na.StillReports = ""
	if got := na.Error(); !strings.Contains(got, "still reports - after") {
		t.Errorf("%q", got)
	}
}

func TestTargetURLs(t *testing.T) {
	t.Parallel()
	if got := (Target{Protocol: "ipmi", Host: "10.0.0.1", Port: 623}).URL(); got != "ipmi://10.0.0.1:623" {
		t.Errorf("%q", got)
	}
	if got := (Target{Protocol: "redfish", Host: "fe80::1", Port: 443}).URL(); got != "https://[fe80::1]:443" {
		t.Errorf("%q", got)
	}
	for _, tc := range []struct {
		bmc  inventory.BMC
		want string
	}{
		{bmc: inventory.BMC{Address: "10.0.0.2"}, want: "https://10.0.0.2:443"},
		{bmc: inventory.BMC{Address: "10.0.0.2", Protocol: "ipmi"}, want: "ipmi://10.0.0.2:623"},
		{bmc: inventory.BMC{Address: "10.0.0.2", Protocol: "ipmi", Port: 6230}, want: "ipmi://10.0.0.2:6230"},
		{bmc: inventory.BMC{}, want: ""},
	} {
		if got := URLFor(&inventory.Node{Name: "n", BMC: tc.bmc}); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.bmc, got, tc.want)
		}
	}
}

// bmc info's helpers: the BMC manager over an enclosure's, the rollup over the own
// health, a blank value replaced.
func TestInfoHelpers(t *testing.T) {
	t.Parallel()
	encl := &rf.Manager{ManagerType: rf.EnclosureManagerManagerType}
	bmcM := &rf.Manager{ManagerType: rf.BMCManagerType}
	if pickManager([]*rf.Manager{encl, bmcM}) != bmcM || pickManager([]*rf.Manager{encl}) != encl || pickManager(nil) != nil {
		t.Error("pickManager")
	}
	if health(common.Status{Health: "OK", HealthRollup: "Warning"}) != "Warning" || health(common.Status{Health: "Critical"}) != "Critical" {
		t.Error("health")
	}
	if orElse("a", "b") != "a" || orElse("  ", "b") != "b" || orElse("", "") != "" {
		t.Error("orElse")
	}
}

// The progress line says done, total and failed, and clears itself at the end.
func TestProgressLine(t *testing.T) {
	t.Parallel()
	var w testenv.SyncBuffer
	p, stop := progressLine(&w, "power on", 3, time.Now())
	p(2, 3, 1)
	stop()
	s := w.String()
	if !strings.Contains(s, "\rpower on: 2/3 BMCs done, 1 failed, ") || !strings.HasSuffix(s, "\r\033[K") {
		t.Errorf("%q", s)
	}
}

// Fan-out progress counts each job once and the failed ones, in job order results.
func TestFanoutProgressCounts(t *testing.T) {
	t.Parallel()
	type call struct{ done, total, failed int }
	var calls []call
	jobs := []Job{
		{Node: "a", Run: func(context.Context) (Outcome, error) { return Outcome{Power: "on"}, nil }},
		{Node: "b", Run: func(context.Context) (Outcome, error) {
			return Outcome{}, &Error{Node: "b", Kind: KindNotApplied, NotApplied: &NotApplied{Asked: "power on"}, Refusal: &Refusal{Status: 409}}
		}},
		{Node: "c", Run: func(context.Context) (Outcome, error) { return Outcome{}, errors.New("plain") }},
	}
	var mu sync.Mutex
	res := Fanout(context.Background(), jobs, 1, func(d, tot, f int) {
		mu.Lock()
		calls = append(calls, call{d, tot, f})
		mu.Unlock()
	})
	// Jobs may end in any order; the call saying all three are done counts both failures.
	seen := map[int]bool{}
	for _, c := range calls {
		seen[c.done] = true
		if c.total != 3 || c.done == 3 && c.failed != 2 || c.failed > c.done {
			t.Errorf("progress call %+v", c)
		}
	}
	if len(calls) != 3 || !seen[1] || !seen[2] || !seen[3] {
		t.Errorf("progress %v, want done 1, 2, 3 once each", calls)
	}
	if res[0].Result != "ok" || res[0].Outcome.Power != "on" || res[0].Node != "a" {
		t.Errorf("a: %+v", res[0])
	}
	if b := res[1]; b.Result != "failed" || b.Kind != KindNotApplied || b.NotApplied == nil || b.Refusal == nil || b.Node != "b" {
		t.Errorf("b: %+v", b)
	}
	if c := res[2]; c.Result != "failed" || c.Kind != "" || c.Error != "plain" || c.End.Before(c.Start) || c.Seconds != c.Duration.Seconds() {
		t.Errorf("c: %+v", c)
	}
}

// A job's slot is given away only once it runs past the stall limit: before that (here
// a limit of two minutes, or fewer than five successes) the watcher keeps it. What a
// watcher would do wrong, it does at its first tick (100 ms); 500 ms gives it the
// chance, and a correct watcher never frees, whatever the machine's load.
func TestWatchStallKeepsSlotBeforeLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		n     int
		d     time.Duration
		frees bool
	}{
		{name: "within the limit", n: 5, d: time.Minute},
		{name: "too few successes", n: 4, d: time.Millisecond},
		{name: "past the limit", n: 5, d: time.Millisecond, frees: true}, // limit 1 s
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := &median{}
			for range tc.n {
				m.add(tc.d)
			}
			stop, stalled, freed, done := make(chan struct{}), make(chan struct{}, 1), make(chan struct{}, 1), make(chan struct{})
			go func() {
				defer close(done)
				watchStall(m, stop, stalled, func() { freed <- struct{}{} })
			}()
			wait := time.NewTimer(500 * time.Millisecond)
			if tc.frees {
				wait.Reset(2 * time.Minute) // hang guard
			}
			select {
			case <-freed:
				if !tc.frees {
					t.Error("the slot was freed before the stall limit")
				}
			case <-wait.C:
				if tc.frees {
					t.Error("a job past the stall limit kept its slot")
				}
			}
			close(stop)
			<-done
			if len(stalled) != 0 {
				t.Error("the stalled mark was kept after the job ended")
			}
		})
	}
}
