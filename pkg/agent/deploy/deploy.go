package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// Deployer puts a node's image on its disk: Deploy does the whole run.
type Deployer struct {
	Machine Machine
	// Client fetches the image; nil: a plain client (an http:// image is fine, the
	// sha256 protects it; https needs the agent's pinned client).
	Client *http.Client
	// Files gives the files of the identity hand-off (node certificate, key, CA pin),
	// written onto the installed root beside the node's configuration; nil: none.
	Files func(ctx context.Context) ([]File, error)
	// Retries and RetryWait bound the download's reconnects (Source's defaults).
	Retries   int
	RetryWait time.Duration
	Buffered  bool // no O_DIRECT (WriteOptions.Buffered)
	// Mounts are the node's data mounts (the ramdisk's racklift.mount=), given to the
	// installed system as mount units (MountFiles).
	Mounts []Mount
	Log    *slog.Logger
}

// Deploy deploys exp.Deploy for node: chooses the disk, writes and verifies the image,
// then installs (GPT, grow, configuration, boot path). The result is the report's deploy
// section, filled as far as the run got, with Error set on failure; the error is the
// named failure (NoDiskError, ImageNotFoundError, ChecksumError, DiskWriteError,
// BootError or a wrapped other).
func (d *Deployer) Deploy(ctx context.Context, node string, exp *expect.Expectations) (*check.DeployResult, error) {
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dep := exp.Deploy
	if dep == nil {
		return nil, errors.New("no deploy in the node's expectations")
	}
	res := &check.DeployResult{Image: dep.Image}
	fail := func(err error) (*check.DeployResult, error) {
		res.Error = err.Error()
		res.Failure = failureOf(err, res.Verified)
		log.Error("deploy failed", "node", node, "image", dep.Image, "error", err.Error())
		return res, err
	}
	if len(dep.SHA256) != 64 {
		return fail(fmt.Errorf("image %s: sha256 %q is not 64 hex digits: no checksum, no deploy", dep.Image, dep.SHA256))
	}
	hostname := dep.Hostname
	if hostname == "" {
		hostname = node
	}
	conf, err := NodeConfig(hostname, exp.Networks)
	if err == nil {
		var login []File
		login, err = LoginFiles(dep.Login) // login.go: the inventory's user and SSH keys
		conf = append(conf, login...)
	}
	if err != nil {
		return fail(fmt.Errorf("node %s: %w", node, err))
	}
	mounts, err := MountFiles(d.Mounts, FilesystemUUID)
	if err != nil {
		return fail(fmt.Errorf("node %s: %w", node, err))
	}
	conf = append(conf, mounts...)
	disks, err := d.Machine.Disks()
	if err != nil {
		return fail(err)
	}
	disk, choices, err := Choose(disks, dep.RootDevice, dep.Size, dep.Reprovision, Signature)
	res.Disks = choices
	if err != nil {
		return fail(err)
	}
	res.Device = disk.Path
	log.Info("deploying", "node", node, "image", dep.Image, "url", dep.URL, "disk", disk.Path, "size_gib", float64(disk.SizeBytes)/GiB)

	src := &Source{URL: dep.URL, Client: d.Client, Retries: d.Retries, RetryWait: d.RetryWait}
	body, _, err := src.Open(ctx)
	if err != nil {
		return fail(err)
	}
	last := time.Now()
	progress := func(n int64) {
		// A line every 10 s on the console, so a long write is seen to move.
		if time.Since(last) >= 10*time.Second {
			last = time.Now()
			log.Info("writing", "disk", disk.Path, "written_mib", n>>20, "of_mib", dep.Size>>20)
		}
	}
	w, err := Write(ctx, body, disk.Path, dep.SHA256, WriteOptions{Image: dep.Image, Buffered: d.Buffered, Progress: progress})
	body.Close()
	res.Bytes, res.Seconds, res.MBps, res.SHA256, res.Verified = w.Bytes, w.Elapsed.Seconds(), w.MBps(), w.SHA256, w.Verified
	if err != nil {
		return fail(err)
	}
	log.Info("image written and verified", "disk", disk.Path, "bytes", w.Bytes, "mb_per_s", fmt.Sprintf("%.0f", w.MBps()),
		"format", w.Format, "direct", w.Direct, "no_direct", w.NoDirect, "sha256", w.SHA256)

	if d.Files != nil {
		extra, err := d.Files(ctx)
		if err != nil {
			return fail(fmt.Errorf("node %s: files for the installed system: %w", node, err))
		}
		conf = append(conf, extra...)
	}
	in, err := d.Machine.Install(ctx, disk.Path, conf, log)
	if err != nil {
		return fail(err)
	}
	log.Info("installed", "disk", disk.Path, "root", in.Root, "root_gib", float64(in.RootSize)/GiB, "boot", in.Boot)
	return res, nil
}

// failureOf names a failed deploy for the server (check.DeployResult.Failure), so the
// node's reason says what failed rather than being inferred from the text.
func failureOf(err error, verified bool) string {
	var (
		nodisk   *NoDiskError
		notfound *ImageNotFoundError
		sum      *ChecksumError
		stream   *ImageStreamError
		write    *DiskWriteError
	)
	switch {
	case errors.As(err, &nodisk):
		return check.FailNoDisk
	case errors.As(err, &notfound):
		return check.FailImage
	case errors.As(err, &sum):
		return check.FailChecksum
	case errors.As(err, &stream):
		return check.FailImageCorrupt
	case errors.As(err, &write):
		return check.FailWrite
	case verified:
		return check.FailInstall
	}
	return ""
}
