package redfish

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

const (
	systemPath  = "/redfish/v1/Systems/1"
	managerPath = "/redfish/v1/Managers/1"
	chassisPath = "/redfish/v1/Chassis/1"
	sessionsURI = "/redfish/v1/SessionService/Sessions"
	monitorsURI = "/redfish/v1/TaskService/TaskMonitors"
)

var (
	resetTypes   = []string{"On", "ForceOff", "GracefulShutdown", "ForceRestart", "GracefulRestart", "PowerCycle"}
	bootTargets  = []string{BootNone, BootPxe, BootHdd, BootBios}
	bootEnabled  = []string{"Disabled", "Once", "Continuous"}
	bootModes    = []string{"UEFI", "Legacy"}
	managerReset = []string{"GracefulRestart", "ForceRestart"}
)

func (b *BMC) routes() http.Handler {
	mux := http.NewServeMux()
	// Redfish: open to anyone.
	mux.HandleFunc("GET /redfish", b.versions)
	mux.HandleFunc("GET /redfish/{$}", b.versions)
	mux.HandleFunc("GET /redfish/v1", b.serviceRoot)
	mux.HandleFunc("GET /redfish/v1/{$}", b.serviceRoot)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		redfishError(w, 404, "ResourceMissingAtURI", "The resource at the URI "+r.URL.Path+" was not found.")
	})
	mux.HandleFunc("POST "+sessionsURI, b.login)
	// Redfish: session or basic auth.
	mux.Handle("GET /redfish/v1/SessionService", b.auth(b.sessionService))
	mux.Handle("GET "+sessionsURI, b.auth(b.sessionList))
	mux.Handle("GET "+sessionsURI+"/{id}", b.auth(b.sessionGet))
	mux.Handle("DELETE "+sessionsURI+"/{id}", b.auth(b.logout))
	mux.Handle("GET /redfish/v1/Systems", b.auth(b.listed("Systems", "ComputerSystemCollection", systemPath, func(f Faults) bool { return f.EmptySystems })))
	mux.Handle("GET "+systemPath, b.auth(b.system))
	mux.Handle("PATCH "+systemPath, b.auth(b.patchSystem))
	mux.Handle("POST "+systemPath+"/Actions/ComputerSystem.Reset", b.auth(b.reset))
	mux.Handle("GET /redfish/v1/Managers", b.auth(collection("Managers", "ManagerCollection", managerPath)))
	mux.Handle("GET "+managerPath, b.auth(b.manager))
	mux.Handle("POST "+managerPath+"/Actions/Manager.Reset", b.auth(b.managerReset))
	mux.Handle("GET /redfish/v1/Chassis", b.auth(b.listed("Chassis", "ChassisCollection", chassisPath, func(f Faults) bool { return f.EmptyChassis })))
	mux.Handle("GET "+chassisPath, b.auth(b.chassis))
	mux.Handle("GET "+monitorsURI+"/{id}", b.auth(b.taskMonitor))

	// Lab debug endpoints: no faults, no auth, loopback only.
	lab := http.NewServeMux()
	lab.HandleFunc("GET /lab/counters", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, b.Counts()) })
	lab.HandleFunc("GET /lab/state", b.labState)

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/lab/") {
			lab.ServeHTTP(w, r)
			return
		}
		b.counts.requests.Add(1)
		f, unavail := b.faultsNow()
		if f.Hang {
			select {
			case <-r.Context().Done():
			case <-b.closed:
			}
			// Abort, not return: returning sends "200 OK" with an empty body, and the
			// request's context can end before the client gives up (seen 1 run in 10 of
			// TestVirtualBMCFaults under -race): a hung BMC never answers.
			panic(http.ErrAbortHandler)
		}
		if f.Hold != nil {
			b.counts.held.Add(1)
			select {
			case <-f.Hold:
			case <-r.Context().Done():
				return
			case <-b.closed:
				return
			}
		}
		if f.Latency > 0 {
			t := time.NewTimer(f.Latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			case <-b.closed:
				t.Stop()
				return
			}
		}
		if unavail > 0 {
			b.counts.unavailable.Add(1)
			w.Header().Set("Retry-After", strconv.Itoa(int(unavail.Seconds())+1))
			redfishError(w, http.StatusServiceUnavailable, "ServiceTemporarilyUnavailable",
				"The service is temporarily unavailable (BMC restarting).")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (b *BMC) faultsNow() (Faults, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.faults, time.Until(b.unavail)
}

func (b *BMC) versions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]string{"v1": "/redfish/v1/"})
}

func (b *BMC) serviceRoot(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{
		"@odata.id":      "/redfish/v1/",
		"@odata.type":    "#ServiceRoot.v1_5_0.ServiceRoot",
		"Id":             "RootService",
		"Name":           "Root Service",
		"RedfishVersion": "1.9.0",
		"UUID":           "00000000-0000-0000-0000-" + fmt.Sprintf("%012x", b.Port()),
		"Vendor":         b.cfg.Manufacturer,
		"Systems":        link("/redfish/v1/Systems"),
		"Managers":       link("/redfish/v1/Managers"),
		"Chassis":        link("/redfish/v1/Chassis"),
		"SessionService": link("/redfish/v1/SessionService"),
		"Links":          map[string]any{"Sessions": link(sessionsURI)},
	})
}

// auth admits a request carrying a live session token or the right basic credentials.
func (b *BMC) auth(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.Header.Get("X-Auth-Token"); tok != "" {
			b.mu.Lock()
			_, ok := b.sessions[tok]
			b.mu.Unlock()
			if ok {
				h(w, r)
				return
			}
		} else if u, p, ok := r.BasicAuth(); ok && b.credentialsOK(u, p) {
			h(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="Redfish"`)
		redfishError(w, http.StatusUnauthorized, "InsufficientPrivilege",
			"There are insufficient privileges for the account or credentials associated with the current session to perform the requested operation.")
	})
}

func (b *BMC) credentialsOK(user, pass string) bool {
	if b.Faults().RejectLogin {
		return false
	}
	uok := subtle.ConstantTimeCompare([]byte(user), []byte(b.cfg.Username)) == 1
	pok := subtle.ConstantTimeCompare([]byte(pass), []byte(b.cfg.Password)) == 1
	return uok && pok
}

func (b *BMC) login(w http.ResponseWriter, r *http.Request) {
	var req struct{ UserName, Password string }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		redfishError(w, 400, "MalformedJSON", "The request body submitted was malformed JSON.")
		return
	}
	if !b.credentialsOK(req.UserName, req.Password) {
		b.counts.failedLogins.Add(1)
		redfishError(w, http.StatusUnauthorized, "ResourceAtUriUnauthorized",
			"While accessing the resource at "+sessionsURI+", the service received an authorization error: invalid username or password.")
		return
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	tok := hex.EncodeToString(raw[:])
	b.mu.Lock()
	if lim := b.faults.SessionLimit; lim > 0 && len(b.sessions) >= lim {
		b.mu.Unlock()
		b.counts.sessionLimited.Add(1)
		redfishError(w, http.StatusServiceUnavailable, "SessionLimitExceeded",
			"The session establishment failed due to the number of simultaneous sessions exceeding the limit of the implementation.")
		return
	}
	b.nextSess++
	id := strconv.Itoa(b.nextSess)
	b.sessions[tok] = session{ID: id, User: req.UserName, Type: "Redfish"}
	b.mu.Unlock()
	b.counts.logins.Add(1)
	loc := sessionsURI + "/" + id
	w.Header().Set("X-Auth-Token", tok)
	w.Header().Set("Location", loc)
	writeJSON(w, http.StatusCreated, sessionJSON(session{ID: id, User: req.UserName, Type: "Redfish"}))
}

func sessionJSON(s session) map[string]any {
	return map[string]any{
		"@odata.id":   sessionsURI + "/" + s.ID,
		"@odata.type": "#Session.v1_3_0.Session",
		"Id":          s.ID,
		"Name":        "User Session",
		"UserName":    s.User,
		"SessionType": s.Type,
	}
}

func (b *BMC) sessionService(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{
		"@odata.id":      "/redfish/v1/SessionService",
		"@odata.type":    "#SessionService.v1_1_8.SessionService",
		"Id":             "SessionService",
		"Name":           "Session Service",
		"ServiceEnabled": true,
		"SessionTimeout": 1800,
		"Sessions":       link(sessionsURI),
	})
}

func (b *BMC) sessionList(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	var ids []string
	for _, s := range b.sessions {
		ids = append(ids, sessionsURI+"/"+s.ID)
	}
	b.mu.Unlock()
	slices.Sort(ids)
	collection("Sessions", "SessionCollection", ids...)(w, r)
}

func (b *BMC) sessionGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	b.mu.Lock()
	var found *session
	for _, v := range b.sessions {
		if v.ID == id {
			found = &v
		}
	}
	b.mu.Unlock()
	if found == nil {
		redfishError(w, 404, "ResourceMissingAtURI", "The session "+id+" was not found.")
		return
	}
	writeJSON(w, 200, sessionJSON(*found))
}

func (b *BMC) logout(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	b.mu.Lock()
	found := false
	for tok, v := range b.sessions {
		if v.ID == id {
			delete(b.sessions, tok)
			found = true
		}
	}
	b.mu.Unlock()
	if !found {
		redfishError(w, 404, "ResourceMissingAtURI", "The session "+id+" was not found.")
		return
	}
	b.counts.logouts.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

func (b *BMC) etagValue() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf(`W/"%d"`, b.etag)
}

func (b *BMC) system(w http.ResponseWriter, r *http.Request) {
	on, err := b.machine.On(r.Context())
	if err != nil {
		redfishError(w, 500, "InternalError", "reading the machine's power state: "+err.Error())
		return
	}
	power := "Off"
	if on {
		power = "On"
	}
	b.mu.Lock()
	if time.Now().Before(b.transit.Until) {
		power = b.transit.State
	}
	b.mu.Unlock()
	bo := b.BootOverride()
	etag := b.etagValue()
	if !b.Faults().RequireIfMatch {
		w.Header().Set("ETag", etag)
	}
	writeJSON(w, 200, map[string]any{
		"@odata.etag":  etag,
		"@odata.id":    systemPath,
		"@odata.type":  "#ComputerSystem.v1_10_0.ComputerSystem",
		"Id":           "1",
		"Name":         "System",
		"SystemType":   "Physical",
		"Manufacturer": b.cfg.Manufacturer,
		"Model":        b.cfg.Model,
		"SerialNumber": b.cfg.Serial,
		"PowerState":   power,
		"BiosVersion":  b.cfg.BiosVersion,
		"Status":       map[string]string{"State": "Enabled", "Health": b.cfg.Health, "HealthRollup": b.cfg.Health},
		"Boot": map[string]any{
			"BootSourceOverrideEnabled":                         bo.Enabled,
			"BootSourceOverrideTarget":                          bo.Target,
			"BootSourceOverrideMode":                            bo.Mode,
			"BootSourceOverrideTarget@Redfish.AllowableValues":  bootTargets,
			"BootSourceOverrideEnabled@Redfish.AllowableValues": bootEnabled,
			"BootSourceOverrideMode@Redfish.AllowableValues":    bootModes,
		},
		"Actions": map[string]any{
			"#ComputerSystem.Reset": map[string]any{
				"target":                            systemPath + "/Actions/ComputerSystem.Reset",
				"ResetType@Redfish.AllowableValues": resetTypes,
			},
		},
		"Links": map[string]any{
			"Chassis":   []any{link(chassisPath)},
			"ManagedBy": []any{link(managerPath)},
		},
	})
}

// ifMatch enforces If-Match the way ETag-aware BMCs do: a stale tag is refused.
func (b *BMC) ifMatch(w http.ResponseWriter, r *http.Request) bool {
	m := r.Header.Get("If-Match")
	if m == "" && b.Faults().RequireIfMatch {
		b.counts.preconditionRequired.Add(1)
		redfishError(w, http.StatusPreconditionRequired, "PreconditionRequired",
			"A precondition header or annotation is required to change this resource.")
		return false
	}
	if m == "" || m == "*" || strings.Trim(m, `"`) == strings.Trim(strings.TrimPrefix(b.etagValue(), "W/"), `"`) || m == b.etagValue() {
		return true
	}
	redfishError(w, http.StatusPreconditionFailed, "PreconditionFailed",
		"The ETag supplied did not match the ETag required to change this resource.")
	return false
}

func (b *BMC) patchSystem(w http.ResponseWriter, r *http.Request) {
	if !b.ifMatch(w, r) {
		return
	}
	var req struct {
		Boot *struct {
			BootSourceOverrideEnabled *string
			BootSourceOverrideTarget  *string
			BootSourceOverrideMode    *string
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		redfishError(w, 400, "MalformedJSON", "The request body submitted was malformed JSON.")
		return
	}
	if req.Boot == nil {
		redfishError(w, 400, "PropertyNotWritable", "Only Boot can be changed on this system.")
		return
	}
	check := func(name string, v *string, allowed []string) bool {
		if v == nil || slices.Contains(allowed, *v) {
			return true
		}
		redfishError(w, 400, "PropertyValueNotInList",
			fmt.Sprintf("The value %q for the property %s is not in the list of acceptable values %v.", *v, name, allowed))
		return false
	}
	bo := req.Boot
	if !check("BootSourceOverrideEnabled", bo.BootSourceOverrideEnabled, bootEnabled) ||
		!check("BootSourceOverrideTarget", bo.BootSourceOverrideTarget, bootTargets) ||
		!check("BootSourceOverrideMode", bo.BootSourceOverrideMode, bootModes) {
		return
	}
	b.counts.bootOverrides.Add(1)
	b.mu.Lock()
	drop := b.faults.DropBootOverride || b.faults.DropFirstBootOverride && !b.boot1
	b.boot1 = true
	if !drop {
		if bo.BootSourceOverrideEnabled != nil {
			b.boot.Enabled = *bo.BootSourceOverrideEnabled
			if b.boot.Enabled == "Once" && b.faults.OnceBecomesContinuous {
				b.boot.Enabled = "Continuous"
			}
		}
		if bo.BootSourceOverrideTarget != nil {
			b.boot.Target = *bo.BootSourceOverrideTarget
		}
		if bo.BootSourceOverrideMode != nil {
			b.boot.Mode = *bo.BootSourceOverrideMode
		}
		if b.faults.BootEnabled != "" {
			b.boot.Enabled = b.faults.BootEnabled
		}
		if b.faults.BootMode != "" {
			b.boot.Mode = b.faults.BootMode
		}
		b.etag++
	}
	b.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// nextBoot is the target the machine starts from now; a one-time override is used up.
func (b *BMC) nextBoot() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.boot.Enabled == "Disabled" {
		return ""
	}
	t := b.boot.Target
	if b.boot.Enabled == "Once" {
		b.boot.Enabled = "Disabled"
		b.etag++
	}
	return t
}

func (b *BMC) reset(w http.ResponseWriter, r *http.Request) {
	if !b.ifMatch(w, r) {
		return
	}
	var req struct{ ResetType string }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		redfishError(w, 400, "MalformedJSON", "The request body submitted was malformed JSON.")
		return
	}
	if !slices.Contains(resetTypes, req.ResetType) {
		redfishError(w, 400, "ActionParameterValueNotInList",
			fmt.Sprintf("The value %q for the parameter ResetType is not in the list of acceptable values %v.", req.ResetType, resetTypes))
		return
	}
	f := b.Faults()
	if f.RefuseReset != 0 {
		redfishError(w, f.RefuseReset, "ActionNotSupported",
			"The action "+req.ResetType+" was refused: the system is locked by another administrator.")
		return
	}
	if f.TaskMonitor > 0 {
		b.mu.Lock()
		b.nextTask++
		tk := &task{ID: strconv.Itoa(b.nextTask), ResetType: req.ResetType, Done: time.Now().Add(f.TaskMonitor)}
		b.tasks[tk.ID] = tk
		b.mu.Unlock()
		b.counts.tasks.Add(1)
		time.AfterFunc(f.TaskMonitor, func() { b.finishTask(tk) })
		w.Header().Set("Location", monitorsURI+"/"+tk.ID)
		writeJSON(w, http.StatusAccepted, taskJSON(tk, false))
		return
	}
	if err := b.applyReset(r.Context(), req.ResetType); err != nil {
		redfishError(w, 500, "InternalError", "The machine did not follow the "+req.ResetType+" request: "+err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// applyReset does what a Reset asks of the machine, unless the BMC ignores it.
func (b *BMC) applyReset(ctx context.Context, resetType string) error {
	f := b.Faults()
	on, err := b.machine.On(ctx)
	if err != nil || f.IgnorePower {
		b.countReset(resetType)
		return err
	}
	b.countReset(resetType)
	switch resetType {
	case "On":
		if !on {
			err = b.machine.PowerOn(ctx, b.nextBoot())
		}
	case "ForceOff", "GracefulShutdown":
		err = b.machine.PowerOff(ctx, resetType == "GracefulShutdown")
	case "ForceRestart", "GracefulRestart":
		if on {
			err = b.machine.Reset(ctx, b.nextBoot())
		} else {
			err = b.machine.PowerOn(ctx, b.nextBoot())
		}
		b.afterReset()
	case "PowerCycle":
		if on {
			err = b.machine.PowerOff(ctx, false)
		}
		if err == nil {
			err = b.machine.PowerOn(ctx, b.nextBoot())
		}
		b.afterReset()
	}
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.etag++
	if f.SlowTransition > 0 {
		state := "PoweringOn"
		if resetType == "ForceOff" || resetType == "GracefulShutdown" {
			state = "PoweringOff"
		}
		b.transit = transition{State: state, Until: time.Now().Add(f.SlowTransition)}
	}
	b.mu.Unlock()
	return nil
}

func (b *BMC) countReset(resetType string) {
	c := &b.counts
	map[string]*atomic.Int64{"On": &c.powerOn, "ForceOff": &c.forceOff, "GracefulShutdown": &c.gracefulShutdown,
		"ForceRestart": &c.forceRestart, "GracefulRestart": &c.gracefulRestart, "PowerCycle": &c.powerCycle}[resetType].Add(1)
}

// finishTask applies a task's reset when it completes.
func (b *BMC) finishTask(tk *task) {
	select {
	case <-b.closed:
		return
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if b.Faults().TaskFails {
		err = errors.New("the power controller did not respond to " + tk.ResetType)
	} else {
		err = b.applyReset(ctx, tk.ResetType)
	}
	b.mu.Lock()
	tk.Err, tk.applied = err, true
	b.mu.Unlock()
}

// taskMonitor answers 202 with the task while it runs and 200 with it once done.
func (b *BMC) taskMonitor(w http.ResponseWriter, r *http.Request) {
	b.counts.taskPolls.Add(1)
	b.mu.Lock()
	tk, ok := b.tasks[r.PathValue("id")]
	var done bool
	var cp task
	if ok {
		done, cp = tk.applied, *tk
	}
	b.mu.Unlock()
	if !ok {
		redfishError(w, 404, "ResourceMissingAtURI", "The task monitor "+r.URL.Path+" was not found.")
		return
	}
	if !done {
		w.Header().Set("Location", r.URL.Path)
		writeJSON(w, http.StatusAccepted, taskJSON(&cp, false))
		return
	}
	writeJSON(w, http.StatusOK, taskJSON(&cp, true))
}

func taskJSON(tk *task, done bool) map[string]any {
	state, status := "Running", "OK"
	var msgs []any
	if done {
		state = "Completed"
		if tk.Err != nil {
			state, status = "Exception", "Critical"
			msgs = append(msgs, map[string]any{"MessageId": "Base.1.8.InternalError", "Message": tk.Err.Error()})
		}
	}
	return map[string]any{
		"@odata.id":   "/redfish/v1/TaskService/Tasks/" + tk.ID,
		"@odata.type": "#Task.v1_4_3.Task",
		"Id":          tk.ID,
		"Name":        "ComputerSystem.Reset " + tk.ResetType,
		"TaskState":   state,
		"TaskStatus":  status,
		"TaskMonitor": monitorsURI + "/" + tk.ID,
		"Messages":    append([]any{}, msgs...),
	}
}

func (b *BMC) afterReset() {
	if d := b.Faults().UnavailableAfterReset; d > 0 {
		b.Unavailable(d)
	}
}

func (b *BMC) manager(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{
		"@odata.id":       managerPath,
		"@odata.type":     "#Manager.v1_10_0.Manager",
		"Id":              "1",
		"Name":            "Manager",
		"Description":     "BMC",
		"ManagerType":     "BMC",
		"Manufacturer":    b.cfg.Manufacturer,
		"Model":           b.cfg.Manufacturer + " BMC",
		"FirmwareVersion": b.cfg.Firmware,
		"Status":          map[string]string{"State": "Enabled", "Health": "OK"},
		"Actions": map[string]any{
			"#Manager.Reset": map[string]any{
				"target":                            managerPath + "/Actions/Manager.Reset",
				"ResetType@Redfish.AllowableValues": managerReset,
			},
		},
		"Links": map[string]any{"ManagerForServers": []any{link(systemPath)}},
	})
}

func (b *BMC) managerReset(w http.ResponseWriter, r *http.Request) {
	b.counts.managerResets.Add(1)
	b.afterReset()
	w.WriteHeader(http.StatusNoContent)
}

func (b *BMC) chassis(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{
		"@odata.id":    chassisPath,
		"@odata.type":  "#Chassis.v1_10_0.Chassis",
		"Id":           "1",
		"Name":         "Chassis",
		"ChassisType":  "RackMount",
		"Manufacturer": b.cfg.Manufacturer,
		"Model":        b.cfg.Model,
		"SerialNumber": b.cfg.Serial,
		"Status":       map[string]string{"State": "Enabled", "Health": "OK"},
		"Links": map[string]any{
			"ComputerSystems": []any{link(systemPath)},
			"ManagedBy":       []any{link(managerPath)},
		},
	})
}

func (b *BMC) labState(w http.ResponseWriter, r *http.Request) {
	on, err := b.machine.On(r.Context())
	state := map[string]any{"power_on": on, "boot_override": b.BootOverride(), "counters": b.Counts()}
	if err != nil {
		state["error"] = err.Error()
	}
	if m, ok := b.machine.(*MemMachine); ok {
		state["boots"] = m.Boots()
	}
	writeJSON(w, 200, state)
}

// listed is the collection of one member, or of none while empty says so.
func (b *BMC) listed(name, typ, member string, empty func(Faults) bool) http.HandlerFunc {
	full, none := collection(name, typ, member), collection(name, typ)
	return func(w http.ResponseWriter, r *http.Request) {
		if empty(b.Faults()) {
			none(w, r)
			return
		}
		full(w, r)
	}
}

func collection(name, typ string, members ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ms := make([]any, 0, len(members))
		for _, m := range members {
			ms = append(ms, link(m))
		}
		writeJSON(w, 200, map[string]any{
			"@odata.id":           "/redfish/v1/" + name,
			"@odata.type":         "#" + typ + "." + typ,
			"Name":                name + " Collection",
			"Members":             ms,
			"Members@odata.count": len(ms),
		})
	}
}

func link(path string) map[string]string { return map[string]string{"@odata.id": path} }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// redfishError answers in the Redfish error format, which gofish turns into its error text.
func redfishError(w http.ResponseWriter, code int, id, msg string) {
	writeJSON(w, code, map[string]any{
		"error": map[string]any{
			"code":    "Base.1.8.GeneralError",
			"message": "A general error has occurred. See ExtendedInfo for more information.",
			"@Message.ExtendedInfo": []any{map[string]any{
				"@odata.type": "#Message.v1_0_0.Message",
				"MessageId":   "Base.1.8." + id,
				"Message":     msg,
				"Severity":    "Critical",
			}},
		},
	})
}
