package bmc_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/inventory"
)

// quirkCase is one vendor quirk of the virtual BMC and what racklift must make of it.
type quirkCase struct {
	name     string
	faults   lab.Faults
	setup    func(b *lab.BMC) // before the operation, on each BMC
	args     []string         // the CLI command, without the node
	op       bmc.Op           // the same through pkg/bmc
	timeout  time.Duration
	wantKind bmc.ErrorKind // "" for ok
	want     []string      // in the error or note, and in the table row
	never    []string      // in neither
	sessions int           // sessions the BMC still holds afterwards
	check    func(t *testing.T, b *lab.BMC, res bmc.Result)
}

func machineOn(t *testing.T, b *lab.BMC) bool {
	t.Helper()
	on, err := b.Machine().On(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return on
}

// Where the deadline is the subject ("past the deadline", "accepted, not applied"), it is
// 10 s, not 2: the BMC must first accept the request, which a loaded machine can take
// seconds to get to (at 2 s those cases failed 1 run in 20 as timeouts).
var quirkCases = []quirkCase{
	{
		name: "428 without If-Match: boot", faults: lab.Faults{RequireIfMatch: true},
		args: []string{"boot", "pxe"}, op: bmc.Op{Boot: &bmc.Boot{Device: bmc.BootPXE}}, timeout: 10 * time.Second,
		want: []string{"If-Match (HTTP 428)"},
		check: func(t *testing.T, b *lab.BMC, res bmc.Result) {
			if o := b.BootOverride(); o.Target != "Pxe" || o.Enabled != "Once" {
				t.Errorf("override %+v, want Pxe Once", o)
			}
			if c := b.Counts(); c.PreconditionRequired < 1 {
				t.Errorf("the BMC never answered 428: %+v", c)
			}
		},
	},
	{
		name: "428 without If-Match: power", faults: lab.Faults{RequireIfMatch: true},
		args: []string{"power", "on"}, op: bmc.Op{Power: bmc.PowerOn}, timeout: 10 * time.Second,
		want: []string{"If-Match (HTTP 428)"},
		check: func(t *testing.T, b *lab.BMC, res bmc.Result) {
			if !machineOn(t, b) || b.Counts().PowerOn != 1 || res.Outcome.Power != "on" {
				t.Errorf("power on through a 428: on=%v %+v, read back %q", machineOn(t, b), b.Counts(), res.Outcome.Power)
			}
		},
	},
	{
		name: "202 and a task monitor", faults: lab.Faults{TaskMonitor: 700 * time.Millisecond},
		args: []string{"power", "on"}, op: bmc.Op{Power: bmc.PowerOn}, timeout: 10 * time.Second,
		want: []string{"task monitor (HTTP 202)"},
		check: func(t *testing.T, b *lab.BMC, res bmc.Result) {
			c := b.Counts()
			if !machineOn(t, b) || c.Tasks != 1 || c.TaskPolls < 1 || res.Outcome.Power != "on" {
				t.Errorf("on=%v, %d tasks, %d polls, read back %q", machineOn(t, b), c.Tasks, c.TaskPolls, res.Outcome.Power)
			}
		},
	},
	{
		name: "task monitor past the deadline", faults: lab.Faults{TaskMonitor: time.Minute},
		args: []string{"power", "on"}, op: bmc.Op{Power: bmc.PowerOn}, timeout: 10 * time.Second,
		wantKind: bmc.KindNotApplied, want: []string{"with a task monitor (HTTP 202", "still running"},
		never: []string{"no answer", "did not answer"},
		check: func(t *testing.T, b *lab.BMC, res bmc.Result) {
			if c := b.Counts(); c.Tasks != 1 {
				t.Errorf("%d reset tasks, want exactly 1", c.Tasks)
			}
		},
	},
	{
		name: "task monitor ending in an exception", faults: lab.Faults{TaskMonitor: 300 * time.Millisecond, TaskFails: true},
		args: []string{"power", "on"}, op: bmc.Op{Power: bmc.PowerOn}, timeout: 10 * time.Second,
		wantKind: bmc.KindRefused, want: []string{"TaskException", "the power controller did not respond to On"},
		never: []string{"no answer"},
		check: func(t *testing.T, b *lab.BMC, res bmc.Result) {
			if r := res.Refusal; r == nil || r.MessageID != "TaskException" || machineOn(t, b) {
				t.Errorf("refusal %+v, on=%v", r, machineOn(t, b))
			}
		},
	},
	{
		name: "session limit held by racklift's stale sessions", faults: lab.Faults{SessionLimit: 2},
		setup: func(b *lab.BMC) { b.OpenSession(labUser, "Redfish"); b.OpenSession(labUser, "Redfish") },
		args:  []string{"power", "status"}, op: bmc.Op{Power: bmc.PowerStatus}, timeout: 10 * time.Second,
		want: []string{"released 2 stale session(s) of user admin"},
		check: func(t *testing.T, b *lab.BMC, res bmc.Result) {
			if res.Outcome.Power != "off" || b.Counts().SessionLimited != 1 {
				t.Errorf("power %q, %d logins refused for the limit", res.Outcome.Power, b.Counts().SessionLimited)
			}
		},
	},
	{
		name: "session limit held by racklift's stale sessions: bmc info", faults: lab.Faults{SessionLimit: 1},
		setup: func(b *lab.BMC) { b.OpenSession(labUser, "Redfish") },
		args:  []string{"bmc", "info"}, op: bmc.Op{Info: true}, timeout: 10 * time.Second,
		want: []string{"released 1 stale session(s)"},
		check: func(t *testing.T, b *lab.BMC, res bmc.Result) {
			if in := res.Outcome.Info; in == nil || in.Firmware != "01.03.12" {
				t.Errorf("info %+v", in)
			}
		},
	},
	{
		name: "session limit held by others", faults: lab.Faults{SessionLimit: 2},
		setup: func(b *lab.BMC) { b.OpenSession("operator", "WebUI"); b.OpenSession(labUser, "WebUI") },
		args:  []string{"power", "status"}, op: bmc.Op{Power: bmc.PowerStatus}, timeout: 10 * time.Second,
		wantKind: bmc.KindSessionLimit, want: []string{"SessionLimitExceeded", "released 0 stale session(s)", "close sessions"},
		never:    []string{"no answer", "listing the sessions failed"},
		sessions: 2,
	},
	{
		name: "slow transition within the deadline", faults: lab.Faults{SlowTransition: 1500 * time.Millisecond},
		args: []string{"power", "on"}, op: bmc.Op{Power: bmc.PowerOn}, timeout: 10 * time.Second,
		want: []string{"transition (PoweringOn)"},
		check: func(t *testing.T, b *lab.BMC, res bmc.Result) {
			if res.Outcome.Power != "on" {
				t.Errorf("read back %q", res.Outcome.Power)
			}
			// How long, in tenths of a second: not the clock's nanoseconds.
			if !regexp.MustCompile(`transition \(PoweringOn\) for [0-9]+(\.[0-9])?s$`).MatchString(res.Outcome.Note) {
				t.Errorf("note %q", res.Outcome.Note)
			}
		},
	},
	{
		name: "slow transition past the deadline", faults: lab.Faults{SlowTransition: time.Minute},
		args: []string{"power", "on"}, op: bmc.Op{Power: bmc.PowerOn}, timeout: 10 * time.Second,
		wantKind: bmc.KindInTransition, want: []string{"accepted power on", "still in transition, reporting powering on"},
		never: []string{"no answer", "did not answer"},
		check: func(t *testing.T, b *lab.BMC, res bmc.Result) {
			if na := res.NotApplied; na == nil || na.StillReports != "powering on" || na.Asked != "power on" {
				t.Errorf("not_applied %+v", na)
			}
			if b.Counts().PowerOn != 1 {
				t.Errorf("%d power on requests, want 1", b.Counts().PowerOn)
			}
		},
	},
	{
		name: "hung", faults: lab.Faults{Hang: true},
		args: []string{"power", "on"}, op: bmc.Op{Power: bmc.PowerOn}, timeout: 2 * time.Second,
		wantKind: bmc.KindTimeout, want: []string{"no answer before the deadline"},
		never: []string{"accepted", "refused"},
	},
	{
		name: "nothing listening", setup: func(b *lab.BMC) { _ = b.Refuse(time.Hour) },
		args: []string{"power", "status"}, op: bmc.Op{Power: bmc.PowerStatus}, timeout: 2 * time.Second,
		wantKind: bmc.KindConnRefused, want: []string{"connection refused", "nothing listens on the BMC's Redfish port"},
		never: []string{"no answer", "accepted"},
	},
	{
		name: "power status in transition", setup: func(b *lab.BMC) { b.Transition("PoweringOn", time.Minute) },
		args: []string{"power", "status"}, op: bmc.Op{Power: bmc.PowerStatus}, timeout: 10 * time.Second,
		want: []string{"powering on"},
		check: func(t *testing.T, b *lab.BMC, res bmc.Result) {
			if res.Outcome.Power != "powering on" {
				t.Errorf("power %q, want powering on", res.Outcome.Power)
			}
		},
	},
	{
		name: "bmc info in transition", setup: func(b *lab.BMC) { b.Transition("PoweringOff", time.Minute) },
		args: []string{"bmc", "info"}, op: bmc.Op{Info: true}, timeout: 10 * time.Second,
		want: []string{"powering off"},
		check: func(t *testing.T, b *lab.BMC, res bmc.Result) {
			if in := res.Outcome.Info; in == nil || in.Power != "powering off" {
				t.Errorf("info %+v, want power powering off", in)
			}
		},
	},
	{
		name: "accepted, not applied", faults: lab.Faults{IgnorePower: true},
		args: []string{"power", "on"}, op: bmc.Op{Power: bmc.PowerOn}, timeout: 10 * time.Second,
		wantKind: bmc.KindNotApplied, want: []string{"accepted power on", "still reports off", "event log"},
		never: []string{"no answer", "did not answer"},
		check: func(t *testing.T, b *lab.BMC, res bmc.Result) {
			na := res.NotApplied
			if na == nil || na.StillReports != "off" || na.Asked != "power on" || na.AcceptedAt.IsZero() || na.ForSeconds < 1 {
				t.Errorf("not_applied %+v", na)
			}
			if machineOn(t, b) || b.Counts().PowerOn != 1 {
				t.Errorf("on=%v, %d power on requests (want off, exactly 1)", machineOn(t, b), b.Counts().PowerOn)
			}
		},
	},
	{
		name: "refused", faults: lab.Faults{RefuseReset: 409},
		args: []string{"power", "on"}, op: bmc.Op{Power: bmc.PowerOn}, timeout: 10 * time.Second,
		wantKind: bmc.KindRefused, want: []string{"HTTP 409", "locked by another administrator"},
		never: []string{"no answer"},
		check: func(t *testing.T, b *lab.BMC, res bmc.Result) {
			if r := res.Refusal; r == nil || r.Status != 409 || r.MessageID != "Base.1.8.ActionNotSupported" {
				t.Errorf("refusal %+v", r)
			}
		},
	},
	{
		name: "boot override dropped once", faults: lab.Faults{DropFirstBootOverride: true},
		args: []string{"boot", "pxe"}, op: bmc.Op{Boot: &bmc.Boot{Device: bmc.BootPXE}}, timeout: 10 * time.Second,
		want: []string{"the BMC dropped the override at first", "set once more, it holds"},
		check: func(t *testing.T, b *lab.BMC, res bmc.Result) {
			if o := b.BootOverride(); o.Target != "Pxe" || o.Enabled != "Once" || b.Counts().BootOverrides != 2 {
				t.Errorf("override %+v after %d PATCHes", o, b.Counts().BootOverrides)
			}
		},
	},
	{
		name: "boot override Once turned Continuous", faults: lab.Faults{OnceBecomesContinuous: true},
		args: []string{"boot", "pxe"}, op: bmc.Op{Boot: &bmc.Boot{Device: bmc.BootPXE}}, timeout: 10 * time.Second,
		wantKind: bmc.KindBootChanged, want: []string{"(pxe, persistent, UEFI)", "it changed the setting, also after it was set once more"},
		check: func(t *testing.T, b *lab.BMC, res bmc.Result) {
			if n := b.Counts().BootOverrides; n != 2 {
				t.Errorf("%d PATCHes, want the override set exactly twice", n)
			}
		},
	},
}

// said is what a result tells: the error, the note, the power read back.
func said(r bmc.Result) string {
	s := r.Error + " " + r.Outcome.Note + " " + r.Outcome.Power
	if in := r.Outcome.Info; in != nil {
		s += " " + in.Power
	}
	return s
}

// Each quirk of the virtual BMC through pkg/bmc (node-0001), the CLI's JSON (node-0002)
// and the CLI's table (node-0003): the result, its kind, the exit status, the words of
// the row, what the BMC really did, and that no session was left open.
func TestQuirks(t *testing.T) {
	t.Parallel()
	if _, ok := os.LookupEnv(credEnv); ok {
		t.Fatalf("%s is set in the test's environment: it would override the secrets file", credEnv)
	}
	// The cases run side by side in goroutines, not through t.Parallel: -parallel
	// (GOMAXPROCS, 2 on the development machine) would queue them, and they spend their
	// time waiting for the BMC's clock (deadlines up to 10 s), not on a CPU.
	var wg sync.WaitGroup
	for _, tc := range quirkCases {
		wg.Go(func() {
			t.Run(tc.name, func(t *testing.T) {
				f, dir := startFleet(t, 3, nil)
				for _, b := range f.BMCs {
					b.SetFaults(tc.faults)
					if tc.setup != nil {
						tc.setup(b)
					}
				}
				wantCode := 0
				if tc.wantKind != "" {
					wantCode = 5 // the one node failed: all did (cli.CodeAllFailed)
				}
				assertText := func(t *testing.T, where, s string) {
					t.Helper()
					for _, w := range tc.want {
						if !strings.Contains(s, w) {
							t.Errorf("%s: %q missing from %q", where, w, s)
						}
					}
					for _, w := range tc.never {
						if strings.Contains(s, w) {
							t.Errorf("%s: %q must not be said: %q", where, w, s)
						}
					}
				}
				sessions := func(t *testing.T, where string, b *lab.BMC) {
					t.Helper()
					if n := b.Sessions(); n != tc.sessions {
						t.Errorf("%s: the BMC holds %d sessions afterwards, want %d (logins %d, logouts %d)", where, n, tc.sessions, b.Counts().Logins, b.Counts().Logouts)
					}
				}

				// The three ways run side by side, each on its own BMC: a case whose subject is
				// the deadline then costs one deadline, not three.
				var paths sync.WaitGroup
				defer paths.Wait()
				paths.Go(func() {
					t.Run("pkg/bmc", func(t *testing.T) {
						inv, err := inventory.Load(dir)
						if err != nil {
							t.Fatal(err)
						}
						secrets := filepath.Join(t.TempDir(), "secrets.yaml")
						if err := os.WriteFile(secrets, []byte("lab-bmc: {password: \""+labPassword+"\"}\n"), 0o600); err != nil {
							t.Fatal(err)
						}
						tg, err := bmc.TargetFor(inv, inv.Node("node-0001"), &inventory.Secrets{File: secrets})
						if err != nil {
							t.Fatal(err)
						}
						out, err := bmc.Do(context.Background(), tg, tc.op, bmc.Options{Timeout: tc.timeout})
						res := bmc.Result{Outcome: out, Result: "ok"}
						if err != nil {
							var be *bmc.Error
							if !errors.As(err, &be) {
								t.Fatalf("Do: %T %v", err, err)
							}
							res.Result, res.Error, res.Kind, res.Refusal, res.NotApplied = "failed", be.Error(), be.Kind, be.Refusal, be.NotApplied
						}
						if res.Kind != tc.wantKind {
							t.Errorf("Do: kind %q, want %q: %s%s", res.Kind, tc.wantKind, res.Error, out.Note)
						}
						assertText(t, "Do", said(res))
						if tc.check != nil {
							tc.check(t, f.BMCs[0], res)
						}
						sessions(t, "Do", f.BMCs[0])
					})
				})

				timeout := []string{"--timeout", tc.timeout.String()}
				paths.Go(func() {
					t.Run("CLI JSON", func(t *testing.T) {
						rep, r := provisionJSON(t, dir, nil, append(append(tc.args, "node-0002"), timeout...)...)
						if r.code != wantCode || len(rep.Results) != 1 {
							t.Fatalf("CLI: exit %d, want %d:\n%s\n%s", r.code, wantCode, r.stdout, r.stderr)
						}
						got := rep.Results[0]
						if got.Kind != tc.wantKind || (got.Result == "ok") != (tc.wantKind == "") {
							t.Errorf("CLI: result %s kind %q, want kind %q: %s", got.Result, got.Kind, tc.wantKind, got.Error)
						}
						assertText(t, "CLI JSON", said(got))
						if tc.check != nil {
							tc.check(t, f.BMCs[1], got)
						}
						sessions(t, "CLI", f.BMCs[1])
						noPassword(t, "CLI JSON", r.all())
					})
				})

				paths.Go(func() {
					t.Run("CLI table", func(t *testing.T) {
						r := provision(t, dir, nil, append(append(tc.args, "node-0003"), timeout...)...)
						if r.code != wantCode {
							t.Errorf("CLI table: exit %d, want %d", r.code, wantCode)
						}
						var row string
						for _, line := range strings.Split(r.stdout, "\n") {
							if strings.HasPrefix(line, "node-0003") {
								row = line
							}
						}
						want := "ok"
						if tc.wantKind != "" {
							want = "failed"
						}
						fields := strings.Fields(row)
						if !strings.Contains(row, " "+want+" ") || tc.wantKind != "" && !strings.Contains(row, " "+string(tc.wantKind)+" ") || len(fields) < 4 {
							t.Errorf("CLI table: row %q, want result %s kind %q", row, want, tc.wantKind)
						}
						assertText(t, "CLI table", row)
						sessions(t, "CLI table", f.BMCs[2])
					})
				})
			})
		})
	}
	wg.Wait()
}

// bmc info fills every field from ComputerSystem, Manager and Chassis, and the JSON
// has every key even where a BMC says nothing.
func TestRedfishInfoInventory(t *testing.T) {
	t.Parallel()
	f, dir := startFleet(t, 1, nil)
	b := f.BMCs[0]
	rep, r := provisionJSON(t, dir, nil, "bmc", "info", "all")
	mustOK(t, rep, r)
	in := rep.Results[0].Outcome.Info
	serial := "RL" + strings.NewReplacer(".", "", ":", "").Replace(b.Addr())
	want := bmc.Info{Vendor: "Supermicro", Model: "SYS-821GE-TNHR", Serial: serial, BIOS: "2.1.7", Firmware: "01.03.12", Power: "off", Health: "OK"}
	if in == nil || *in != want {
		t.Errorf("info %+v, want %+v", in, want)
	}
	for _, key := range []string{`"vendor"`, `"model"`, `"serial"`, `"bios_version"`, `"bmc_firmware"`, `"power"`, `"health"`} {
		if !strings.Contains(r.stdout, key) {
			t.Errorf("-o json lacks %s:\n%s", key, r.stdout)
		}
	}
	r = provision(t, dir, nil, "bmc", "info", "all")
	for _, w := range []string{"BIOS", "HEALTH", "2.1.7", "01.03.12", serial, "SYS-821GE-TNHR"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("table lacks %q:\n%s", w, r.stdout)
		}
	}
	if n := b.Sessions(); n != 0 {
		t.Errorf("bmc info left %d sessions open", n)
	}
}
