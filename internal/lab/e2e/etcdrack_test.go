package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/cluster"
	"github.com/racklift/racklift/pkg/lifecycle"
)

// etcdRackLease is the instances' --lease: serve's default, the takeover time
// docs/scale.md gives operators.
const etcdRackLease = 6 * time.Second

// takeoverSlack is what a takeover may take past the lease as the test sees it: its
// 100 ms looks at etcd (waitHolders). The takeover itself is due within the lease.
const takeoverSlack = 200 * time.Millisecond

// TestRackUpOnEtcdInstances is issue 17's line on the lab rack with the real binaries:
// three `provision serve --store etcd` instances on a three-member etcd, each on its own
// host NIC and address on the provisioning network, bring QEMU guests up through their
// virtual BMCs and PXE to ready, in three phases on the same rack:
//  1. the instance elected for the provisioning network, driving one of the nodes, is
//     SIGKILLed during up (its node powered, in pxe): within the lease another answers
//     DHCP and drives its node; every node ends ready, its BMC having seen one power
//     cycle per attempt, its report kept;
//  2. the instance driving the nodes is SIGSTOPped past its lease during `up
//     --reprovision` and resumed: it makes no BMC call for the nodes it lost;
//  3. the etcd leader is SIGKILLed during `up --reprovision`: nothing shows.
//
// Two guests, not the rack's three: without KVM (TCG) every guest slows the others, and
// two are enough for a node the killed instance drives and one another drives.
func TestRackUpOnEtcdInstances(t *testing.T) {
	er := newEtcdRig(t, 3, etcdRackLease)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	all := er.rack.Nodes()

	// Settled: every instance registered, the network and every node held, and nothing
	// moved for half a lease (the first instance took every node, then hands over).
	var prev cluster.Holders
	var since time.Time
	h := er.waitHolders(ctx, 2*time.Minute, "the network and nodes shared out", func(h cluster.Holders) bool {
		ok := len(h.Instances) == len(er.insts) && h.Networks[provNet] != ""
		for _, n := range all {
			ok = ok && h.Nodes[n] != ""
		}
		if !ok || !maps.Equal(h.Nodes, prev.Nodes) || h.Networks[provNet] != prev.Networks[provNet] {
			prev, since = h, time.Now()
			return false
		}
		return time.Since(since) >= etcdRackLease/2
	})
	victim := er.named(h.Networks[provNet])
	if victim == nil {
		t.Fatalf("the network's holder %q is no instance: %+v", h.Networks[provNet], h)
	}
	ctl := er.insts[(slices.Index(er.insts, victim)+1)%len(er.insts)]
	er.stateDir = ctl.stateDir // up, status and report go to an instance that stays
	// Up two nodes: one the victim drives (it dies with its power cycle made) and one
	// another instance drives, as the instances' names share them out (newEtcdRig).
	var victimNodes, others []string
	for _, n := range all {
		if h.Nodes[n] == victim.name {
			victimNodes = append(victimNodes, n)
		} else {
			others = append(others, n)
		}
	}
	if len(victimNodes) == 0 || len(others) == 0 {
		t.Fatalf("%s answers DHCP; want it and another instance to drive a node each: %v", victim.name, h.Nodes)
	}
	victimNodes = victimNodes[:1]
	nodes := []string{victimNodes[0], others[len(others)-1]}
	t.Logf("%s answers DHCP; nodes driven by %v; up %v through %s", victim.name, h.Nodes, nodes, ctl.name)

	upDone := er.startUp(ctx, "up-kill", ctl, nodes)

	// Killed once the victim's node is powered and in pxe, before any node is past it:
	// the guests then ask DHCP of whoever is elected next.
	var phases map[string]lifecycle.Phase
	er.waitFor("the killed instance's node powered, in pxe", 5*time.Minute, func() bool {
		st := er.status(ctx)
		phases = map[string]lifecycle.Phase{}
		for _, n := range nodes {
			phases[n] = st[n].Phase
		}
		return phases[victimNodes[0]] == lifecycle.PXE
	})
	killed := time.Now()
	er.kill(victim)
	t.Logf("SIGKILLed %s (network holder, driving %v) during up: %v", victim.name, victimNodes, phases)
	for n, p := range phases {
		if p != lifecycle.Powering && p != lifecycle.PXE {
			t.Errorf("%s was %s when %s was killed: its boot no longer depended on DHCP alone", n, p, victim.name)
		}
	}

	// Taken over within the lease: another instance answers DHCP, the victim holds nothing.
	after := er.waitHolders(ctx, 3*etcdRackLease, "another instance to take the network and nodes over", func(h cluster.Holders) bool {
		if h.Networks[provNet] == "" || h.Networks[provNet] == victim.name || slices.Contains(h.Instances, victim.name) {
			return false
		}
		for _, n := range all {
			if h.Nodes[n] == "" || h.Nodes[n] == victim.name {
				return false
			}
		}
		return true
	})
	took := time.Since(killed)
	t.Logf("%s answers DHCP %v after the kill (lease %v); nodes driven by %v", after.Networks[provNet], took.Round(time.Millisecond), etcdRackLease, after.Nodes)
	if took > etcdRackLease+takeoverSlack {
		t.Errorf("takeover took %v, want within the lease %v (+%v for polling)", took, etcdRackLease, takeoverSlack)
	}

	upDone()
	checkReadyOnePowerCyclePerAttempt(t, er, nodes, nil, time.Time{})

	// The new holder says it answers DHCP, the instance never elected never did; status
	// names no dead instance.
	for _, in := range er.live() {
		b, _ := os.ReadFile(in.log)
		if answered := strings.Contains(string(b), "answering DHCP"); answered != (in.name == after.Networks[provNet]) {
			t.Errorf("%s answered DHCP: %v; only %s, elected, should have", in.name, answered, after.Networks[provNet])
		}
	}
	st, err := er.clusterStatus(ctx, ctl)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range all {
		if holder := st.Holders.Nodes[n]; holder == "" || holder == victim.name {
			t.Errorf("after up %s is driven by %q", n, holder)
		}
	}
	if t.Failed() {
		return
	}

	// The other two lines on the same rack and instances, the nodes provisioned again.
	pausedPastLease(ctx, t, er, ctl, nodes)
	etcdMemberKilled(ctx, t, er, ctl, nodes)
}

// pausedPastLease: the live instance driving the nodes is SIGSTOPped, and `up
// --reprovision` runs through another; once the others have taken its nodes over (past
// its lease) it is resumed. It makes no BMC call for the nodes it lost: every node ends
// ready with one power cycle per attempt of the new run.
func pausedPastLease(ctx context.Context, t *testing.T, er *etcdRig, ctl *instance, nodes []string) {
	t.Helper()
	h, err := er.clusterStatus(ctx, ctl)
	if err != nil {
		t.Fatal(err)
	}
	paused := er.named(h.Holders.Nodes[nodes[0]])
	if paused == nil || paused.down {
		t.Fatalf("%s is driven by %q, no live instance", nodes[0], h.Holders.Nodes[nodes[0]])
	}
	if paused == ctl {
		for _, in := range er.live() {
			if in != paused {
				ctl = in
			}
		}
	}
	var lost []string
	for _, n := range nodes {
		if h.Holders.Nodes[n] == paused.name {
			lost = append(lost, n)
		}
	}
	before := cyclesOf(er, nodes)
	start := time.Now()
	er.pause(paused)
	wait := er.startUp(ctx, "up-paused", ctl, nodes, "--reprovision")
	er.waitHolders(ctx, 3*etcdRackLease, "the paused instance's nodes taken over", func(h cluster.Holders) bool {
		if slices.Contains(h.Instances, paused.name) || h.Networks[provNet] == paused.name {
			return false
		}
		for _, n := range nodes {
			if h.Nodes[n] == "" || h.Nodes[n] == paused.name {
				return false
			}
		}
		return true
	})
	t.Logf("%s SIGSTOPped holding %v; taken over %v later (lease %v); resumed", paused.name, lost, time.Since(start).Round(time.Millisecond), etcdRackLease)
	er.resume(paused)
	wait()
	checkReadyOnePowerCyclePerAttempt(t, er, nodes, before, start)
	if b, _ := os.ReadFile(paused.log); !strings.Contains(string(b), "cluster: lease lost") {
		t.Errorf("%s was paused past its lease but its log never says it lost it", paused.name)
	}
}

// etcdMemberKilled: the etcd leader is SIGKILLed during `up --reprovision`; nothing
// shows: every node ends ready in its first attempt, one power cycle each.
func etcdMemberKilled(ctx context.Context, t *testing.T, er *etcdRig, ctl *instance, nodes []string) {
	t.Helper()
	before := cyclesOf(er, nodes)
	runs := map[string]int{}
	for n, s := range er.status(ctx) {
		runs[n] = s.Run
	}
	start := time.Now()
	wait := er.startUp(ctx, "up-etcd", ctl, nodes, "--reprovision")
	// Under way: a node of the new run powered and not yet ready (polls may miss pxe).
	underWay := []lifecycle.Phase{lifecycle.PXE, lifecycle.Booting, lifecycle.Agent, lifecycle.Validating}
	phases := map[string]lifecycle.Phase{}
	er.waitFor("up under way (a node powered, not yet ready)", 5*time.Minute, func() bool {
		st := er.status(ctx)
		for _, n := range nodes {
			phases[n] = st[n].Phase
		}
		return slices.ContainsFunc(nodes, func(n string) bool {
			return st[n].Run > runs[n] && slices.Contains(underWay, st[n].Phase)
		})
	})
	leader := er.etcdLeader(ctx)
	if err := er.etcd.Kill(leader); err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGKILLed etcd member %s (the leader) during up: %v", er.etcd.Members[leader].Name, phases)
	wait()
	checkReadyOnePowerCyclePerAttempt(t, er, nodes, before, start)
	st := er.status(ctx)
	for _, n := range nodes {
		if st[n].Attempt != 1 {
			t.Errorf("%s: attempt %d after an etcd member's loss, want 1 (the loss must not show)", n, st[n].Attempt)
		}
	}
}

// etcdLeader is the index of the etcd member that leads.
func (er *etcdRig) etcdLeader(ctx context.Context) int {
	er.t.Helper()
	cli, err := er.etcd.Client()
	if err != nil {
		er.t.Fatal(err)
	}
	defer cli.Close()
	for i, m := range er.etcd.Members {
		st, err := cli.Status(ctx, m.ClientURL)
		if err == nil && st.Leader == st.Header.MemberId {
			return i
		}
	}
	er.t.Fatal("no etcd member says it leads")
	return -1
}

func cyclesOf(er *etcdRig, nodes []string) map[string]int {
	m := map[string]int{}
	for _, n := range nodes {
		m[n] = er.rack.PowerCycles(n)
	}
	return m
}

// startUp runs `provision up NODES -o json` (with --reprovision for nodes already ready)
// through instance via; the returned function waits for it and fails the test unless it
// exits 0 with no node failed.
func (er *etcdRig) startUp(ctx context.Context, name string, via *instance, nodes []string, flags ...string) (wait func()) {
	er.t.Helper()
	out := filepath.Join(er.dir, name+".json")
	args := append(append(append([]string{"up"}, nodes...), flags...), "-o", "json", "--state-dir", via.stateDir)
	up := exec.CommandContext(ctx, er.bin, args...)
	up.Env = er.env
	f, err := os.Create(out)
	if err != nil {
		er.t.Fatal(err)
	}
	var stderr strings.Builder
	up.Stdout, up.Stderr = f, &stderr
	if err := up.Start(); err != nil {
		er.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- up.Wait(); f.Close() }()
	return func() {
		er.t.Helper()
		select {
		case err := <-done:
			if code := up.ProcessState.ExitCode(); code != 0 {
				er.t.Fatalf("%s: up %v through %s: exit %d (%v)\n%s\n%s", name, nodes, via.name, code, err, tail(out, 40), stderr.String())
			}
		case <-ctx.Done():
			er.t.Fatalf("%s: up %v did not finish", name, nodes)
		}
		var res UpResult
		if b, err := os.ReadFile(out); err != nil || json.Unmarshal(b, &res) != nil || res.Failed != 0 {
			er.t.Errorf("%s: up -o json: %d failed, %v:\n%s", name, res.Failed, err, tail(out, 40))
		}
	}
}

// checkReadyOnePowerCyclePerAttempt: every node is ready, its BMC counted exactly one
// power cycle per attempt of its run since before (the counts then; nil: none), and
// its report, made after since, is kept (`provision report` shows the storage check of
// its /scratch disk).
func checkReadyOnePowerCyclePerAttempt(t *testing.T, er *etcdRig, nodes []string, before map[string]int, since time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := er.status(ctx)
	for _, n := range nodes {
		s := st[n]
		cycles := er.rack.PowerCycles(n) - before[n]
		t.Logf("%s: %s, run %d, attempt %d, %d power cycles, report at %v", n, s.Phase, s.Run, s.Attempt, cycles, s.ReportAt.Format(time.TimeOnly))
		if s.Phase != lifecycle.Ready {
			t.Errorf("%s: %s (%s), want ready", n, s.Phase, s.Reason)
		}
		if s.Attempt < 1 || cycles != s.Attempt {
			t.Errorf("%s: its BMC counted %d power cycles for %d attempts of run %d, want one per attempt", n, cycles, s.Attempt, s.Run)
		}
		if !s.ReportAt.After(since) {
			t.Errorf("%s: no report kept since %v (last at %v)", n, since.Format(time.TimeOnly), s.ReportAt)
		}
		out, errOut, code := er.provision(ctx, "report", n)
		if code != 0 || !strings.Contains(out, "/scratch") {
			t.Errorf("provision report %s: exit %d, no /scratch check:\n%s%s", n, code, out, errOut)
		}
	}
}
