package apitest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/racklift/racklift/pkg/agent/identity"
	"github.com/racklift/racklift/pkg/agent/report"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/pki"
)

// Deploy is the rig's image deploy: with Image set the inventory's profile carries an
// image, the simulated ramdisk agent writes it to its simulated disk after its checks
// (or fails as DeployFault says), and a node booting its disk (the BMC's disk boot, or
// serve's local-disk iPXE answer) runs the installed system's agent, which reports from
// boot_source disk.
type Deploy struct {
	Image       string            // the profile's image: line (flow YAML); "" none
	Protected   map[string]bool   // nodes written protected: true
	DeployFault map[string]string // node → check.Fail* its deploy reports
	SilentDisk  map[string]bool   // node → its installed system never reports
	// DeployHold, when set before the nodes boot, holds every deploy (after the
	// ramdisk's checks were reported) until it is closed.
	DeployHold chan struct{}

	mu    sync.Mutex
	disks map[string]*simDisk
}

// simDisk is a node's disk: what the last deploy wrote and how the agent reached serve.
type simDisk struct {
	sha     string
	writes  int
	cmdline map[string]string
	bundle  identity.Bundle
}

// ImageSHA256 is the sha256 of the rig's image (the simulated disk holds it after a deploy).
var ImageSHA256 = strings.Repeat("5e", 32)

// ImageLine is a profile image: line for the rig's image, served from the artifacts.
var ImageLine = "{file: lab/debian.raw.zst, sha256: " + ImageSHA256 + ", root_device: {min_size_gib: 2}}"

// Deploys is how many times node's disk was written.
func (d *Deploy) Deploys(node string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if k := d.disks[node]; k != nil {
		return k.writes
	}
	return 0
}

func (d *Deploy) disk(node string) *simDisk {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.disks == nil {
		d.disks = map[string]*simDisk{}
	}
	if d.disks[node] == nil {
		d.disks[node] = &simDisk{}
	}
	return d.disks[node]
}

// writeImage adds the image to the profile of the inventory just written.
func (r *Rack) writeImage() {
	if r.Image == "" {
		return
	}
	p := filepath.Join(r.InvDir, "site.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		r.t.Fatal(err)
	}
	s := strings.Replace(string(b), "      initrd: lab/initrd.img\n", "      initrd: lab/initrd.img\n    image: "+r.Image+"\n", 1)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// ramdisk is the ramdisk agent of node i, as node-agent does it: the bootstrap exchanged
// for the node's certificate, hello, expectations, and one report with the checks and,
// when the expectations carry a deploy, its result. Each step is retried until serve
// answers (it may be restarting).
func (r *Rack) ramdisk(ctx context.Context, i int, client *report.Client, cmdline map[string]string) {
	name := NodeName(i)
	var bundle identity.Bundle
	var x *expect.Expectations
	if !r.retry(ctx, name, "bootstrap exchange", func() (err error) {
		bundle, err = client.Exchange(ctx, name, cmdline[pki.CmdlineBootstrap])
		if err == nil {
			r.Identities.Store(name, bundle)
		}
		return err
	}) || !r.retry(ctx, name, "hello", func() error { return client.Hello(ctx, name, "ramdisk") }) ||
		!r.retry(ctx, name, "expect", func() (err error) { x, err = client.Expectations(ctx, name); return err }) {
		return
	}
	pass := name != r.FailNode
	rep := simReport(name, check.BootRamdisk, pass)
	post := func(rep simRep) bool {
		return r.retry(ctx, name, "report", func() error { return client.Post(ctx, name, []byte(rep.json())) })
	}
	if x.Deploy == nil || !pass {
		// As node-agent: no deploy after failed checks (the report says why).
		if x.Deploy != nil {
			rep.Deploy = &check.DeployResult{Image: x.Deploy.Image, Error: "not deployed: the node failed its checks"}
		}
		post(rep)
		return
	}
	// The checks passed: the agent streams the image from serve's artifacts (the event
	// serve's HTTP publishes), writes it, and sends one report with the deploy's result.
	if k := strings.Index(x.Deploy.URL, "/artifacts/"); k >= 0 {
		r.publish(i, events.HTTPArtifact, x.Deploy.URL[k:])
	}
	if h := r.DeployHold; h != nil {
		select {
		case <-h:
		case <-ctx.Done():
			return
		}
	}
	d := x.Deploy
	disk := r.disk(name)
	res := &check.DeployResult{Image: d.Image, Device: "/dev/vda", Bytes: 2 << 30, Seconds: 20, MBps: 107.4,
		Disks: []check.DiskChoice{{Device: "/dev/vda", SizeBytes: 4 << 30, Model: "QEMU HARDDISK", Chosen: true, Why: "smallest matching disk"}}}
	r.Deploy.mu.Lock()
	switch r.DeployFault[name] {
	case check.FailChecksum:
		res.SHA256, res.Failure, res.Error = strings.Repeat("0b", 32), check.FailChecksum, "sha256 mismatch: first and last MiB wiped"
		disk.sha, disk.writes = "", disk.writes+1
	case check.FailNoDisk:
		res.Device, res.Bytes, res.Seconds, res.MBps, res.Failure, res.Error = "", 0, 0, 0, check.FailNoDisk, "no disk matches the hints"
		res.Disks[0].Chosen, res.Disks[0].Why = false, fmt.Sprintf("4.0 GiB is below min_size_gib %d", d.RootDevice.MinSizeGiB)
	default:
		res.SHA256, res.Verified = d.SHA256, true
		// The deploy writes the node's credentials onto the installed system.
		disk.sha, disk.writes = d.SHA256, disk.writes+1
		disk.cmdline, disk.bundle = cmdline, bundle
	}
	r.Deploy.mu.Unlock()
	rep.Deploy = res
	post(rep)
}

// bootDisk is node i starting from its disk: nothing happens on an empty disk; a
// deployed one runs the installed system's agent with the credentials the deploy wrote.
func (r *Rack) bootDisk(ctx context.Context, i int) {
	name := NodeName(i)
	disk := r.disk(name)
	r.Deploy.mu.Lock()
	sha, cmdline, bundle := disk.sha, disk.cmdline, disk.bundle
	r.Deploy.mu.Unlock()
	if sha == "" || r.SilentDisk[name] {
		return
	}
	client, err := report.NewClient(cmdline[pki.CmdlineAPI], cmdline[pki.CmdlineCA])
	if err == nil {
		err = client.SetIdentity(bundle.CertPEM, bundle.KeyPEM)
	}
	if err != nil {
		r.t.Errorf("%s: the installed system's client: %v", name, err)
		return
	}
	client.Agent = "sim"
	if !r.retry(ctx, name, "installed hello", func() error { return client.Hello(ctx, name, "installed") }) ||
		!r.retry(ctx, name, "installed expect", func() error { _, err := client.Expectations(ctx, name); return err }) {
		return
	}
	r.retry(ctx, name, "installed report", func() error {
		return client.Post(ctx, name, []byte(simReport(name, check.BootDisk, true).json()))
	})
}

// retry runs an agent step until serve answers it; a refusal fails the test.
func (r *Rack) retry(ctx context.Context, name, what string, do func() error) bool {
	for ctx.Err() == nil {
		err := do()
		if err == nil {
			return true
		}
		var se *report.StatusError
		if errors.As(err, &se) {
			r.t.Errorf("%s: %s: %v", name, what, err)
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// bootsLocal asks the core whether it answers node's iPXE with the local-disk script
// (false while the core is down: the node's iPXE gets no answer and it retries).
func (r *Rack) bootsLocal(node string) bool {
	var local bool
	return r.rig(http.MethodGet, "/bootslocal?node="+url.QueryEscape(node), nil, &local) == nil && local
}

// Expect is node's expectations as the core sends them to its agent.
func (r *Rack) Expect(node string) (*expect.Expectations, error) {
	var x expect.Expectations
	if err := r.rig(http.MethodGet, "/expect?node="+url.QueryEscape(node), nil, &x); err != nil {
		return nil, err
	}
	return &x, nil
}

// BootsLocal reports whether the core answers node's iPXE with the local-disk script.
func (r *Rack) BootsLocal(node string) bool { return r.bootsLocal(node) }

type simRep struct{ check.Report }

func simReport(name, src string, pass bool) simRep {
	st := check.Pass
	if !pass {
		st = check.Fail
	}
	r := check.Report{Node: name, Agent: "sim", Failed: !pass, BootSource: src,
		Results: []check.Result{{Name: "storage./data.write", Status: st, Observed: "812 MB/s", Expected: ">= 500 MB/s"}}}
	if src == check.BootDisk {
		r.OS, r.Kernel = "Debian GNU/Linux 13 (trixie)", "6.12.48-amd64"
	}
	return simRep{r}
}

func (r simRep) json() string {
	b, _ := json.Marshal(r.Report)
	return string(b)
}
