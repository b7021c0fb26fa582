package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/imagestore"
	"github.com/racklift/racklift/pkg/output"
)

func newImageCmd(g *globals) *cobra.Command {
	var artifacts string
	cmd := &cobra.Command{Use: "image", Short: "Record OS images under serve's artifacts directory, list them",
		Example: `  provision image import debian-13.raw.zst --artifacts /srv/racklift
  provision image list --artifacts /srv/racklift -o json`}
	cmd.PersistentFlags().StringVar(&artifacts, "artifacts", "artifacts", "serve's artifacts directory (serve --artifacts); images go to its images/")

	var name string
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Copy an image into the artifacts and record its sha256, size and format",
		Long: `import copies FILE to ARTIFACTS/images/NAME.raw[.zst|.gz] and records its name, format
(by extension: .raw/.img raw, .zst zstd, .gz gzip; .qcow2 is converted to raw with
qemu-img, the node never parses qcow2), raw size and the sha256 of its raw bytes (what the
agent verifies on the disk) in ARTIFACTS/images/index.json. Put the file and sha256 it
prints in a profile's image: section.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := output.Check(g.output); err != nil {
				return err
			}
			img, err := imagestore.Import(artifacts, args[0], name)
			if err != nil {
				return err
			}
			return output.PrintOpts(cmd.OutOrStdout(), g.out(), img, func(w io.Writer) error {
				fmt.Fprintf(w, "imported %s: %s (%s, %d raw bytes)\nprofile:\n  image:\n    file: %s\n    sha256: %s\n",
					img.Name, img.File, img.Format, img.Size, img.File, img.SHA256)
				return nil
			})
		},
	}
	imp.Flags().StringVar(&name, "name", "", "the image's name (default: the file name without extensions)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the recorded images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := output.Check(g.output); err != nil {
				return err
			}
			ix, err := imagestore.Load(artifacts)
			if err != nil {
				return err
			}
			return output.PrintOpts(cmd.OutOrStdout(), g.out(), ix, func(w io.Writer) error {
				t := output.Rows{Header: []string{"NAME", "FORMAT", "SIZE", "FILE", "SHA256", "IMPORTED"}}
				for _, i := range ix.Images {
					t.Add(i.Name, i.Format, fmt.Sprintf("%.2f GiB", float64(i.Size)/(1<<30)), i.File, i.SHA256, i.Imported.Format("2006-01-02 15:04Z"))
				}
				if len(ix.Images) == 0 {
					fmt.Fprintf(w, "no images under %s/%s: add one with 'provision image import FILE --artifacts %s'\n", artifacts, imagestore.Dir, artifacts)
					return nil
				}
				return t.Write(w)
			})
		},
	}
	cmd.AddCommand(imp, list)
	return cmd
}
