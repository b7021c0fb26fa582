package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/agent"
	"github.com/racklift/racklift/pkg/agent/deploy"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/output"
)

func newDeployCmd() *cobra.Command {
	var dep expect.Deploy
	var expectFile, node, format string
	var buffered bool
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Write an OS image to this machine's disk (what the ramdisk does after its checks)",
		Long: `deploy picks the disk by the root device hints (default: the smallest non-removable
disk), streams the image from --image (resuming with Range), decompresses zstd or gzip by
its magic bytes, writes it with O_DIRECT while hashing it, verifies --sha256 (of the raw
image) before anything else, then moves the GPT backup header to the disk's end, grows
the last partition and its ext4 filesystem, writes the hostname and the networks of
--expect onto the installed root and checks the disk has a boot path.

A disk holding a partition table or a filesystem is refused unless --reprovision.
On a checksum mismatch the first and last MiB of the disk are wiped.`,
		Example: `  node-agent deploy --image http://10.10.0.2:8080/images/debian-13.raw.zst --sha256 9f86...
  node-agent deploy --image URL --sha256 HEX --serial S64HNE0R500001 --expect expect.yaml --reprovision`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := output.Check(format); err != nil {
				return err
			}
			exp := &expect.Expectations{}
			if expectFile != "" {
				e, err := expect.Load(expectFile)
				if err != nil {
					return err
				}
				exp = e
			}
			if u, err := url.Parse(dep.URL); err == nil {
				dep.Image = path.Base(u.Path)
			}
			exp.Deploy = &dep
			ctx, _, stop := signalContext()
			defer stop()
			d := &deploy.Deployer{Buffered: buffered, Log: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))}
			res, err := d.Deploy(ctx, agent.NodeName(node), exp)
			if res != nil {
				if perr := output.Print(cmd.OutOrStdout(), format, res, func(w io.Writer) error { return deployTable(w, res) }); perr != nil {
					return perr
				}
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dep.URL, "image", "", "the image's URL (http or https; raw, zstd or gzip)")
	fl.StringVar(&dep.SHA256, "sha256", "", "sha256 of the raw (uncompressed) image; required")
	fl.Int64Var(&dep.RootDevice.MinSizeGiB, "min-size-gib", 0, "root device hint: at least this size")
	fl.Int64Var(&dep.RootDevice.MaxSizeGiB, "max-size-gib", 0, "root device hint: at most this size")
	fl.StringVar(&dep.RootDevice.Model, "model", "", "root device hint: model, as /sys/block/X/device/model")
	fl.StringVar(&dep.RootDevice.Serial, "serial", "", "root device hint: serial number")
	fl.StringVar(&dep.RootDevice.WWN, "wwn", "", "root device hint: WWN (naa.… or 0x…)")
	fl.StringVar(&dep.RootDevice.ByPath, "by-path", "", "root device hint: a /dev/disk/by-path name")
	fl.BoolVar(&dep.RootDevice.Smallest, "smallest", false, "root device hint: the smallest of several matching disks")
	fl.BoolVar(&dep.Reprovision, "reprovision", false, "overwrite a disk that holds a partition table or filesystem")
	fl.StringVar(&dep.Hostname, "hostname", "", "host name of the installed system (default: --node)")
	fl.StringVar(&node, "node", "", "this node's inventory name (default: the hostname)")
	fl.StringVar(&expectFile, "expect", "", "expectations file whose networks are configured on the installed system")
	fl.BoolVar(&buffered, "buffered", false, "write through the page cache instead of O_DIRECT")
	fl.StringVarP(&format, "output", "o", "table", "output format: table or json")
	cmd.MarkFlagRequired("image")
	cmd.MarkFlagRequired("sha256")
	return cmd
}

func deployTable(w io.Writer, r *check.DeployResult) error {
	fmt.Fprintf(w, "image %s on %s: %d bytes in %.1fs (%.0f MB/s), sha256 %s verified=%v\n",
		r.Image, r.Device, r.Bytes, r.Seconds, r.MBps, r.SHA256, r.Verified)
	if r.Error != "" {
		fmt.Fprintf(w, "error: %s\n", r.Error)
	}
	t := output.Rows{Header: []string{"DISK", "SIZE", "MODEL", "SERIAL", "CHOSEN", "WHY"}}
	for _, d := range r.Disks {
		t.Add(d.Device, fmt.Sprintf("%.1f GiB", float64(d.SizeBytes)/(1<<30)), d.Model, d.Serial, fmt.Sprint(d.Chosen), d.Why)
	}
	return t.Write(w)
}
