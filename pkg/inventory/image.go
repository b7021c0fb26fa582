package inventory

import (
	"regexp"
	"slices"
	"strings"

	"github.com/racklift/racklift/pkg/expect"
)

// Image is the OS a profile puts on the node's disk (pkg/plan turns it into the agent's
// expect.Deploy). No image: a stateless node, ready after its ramdisk report.
type Image struct {
	// URL is where the agent streams the image from (http or https, Range-capable); or
	// Artifact, a path under serve's artifacts directory, served at /artifacts/.
	URL      string `yaml:"url,omitempty" json:"url,omitempty"`
	Artifact string `yaml:"artifact,omitempty" json:"artifact,omitempty"`
	// SHA256 is the hex digest of the raw image as it lands on the disk (after any
	// decompression). Required: no checksum, no deploy.
	SHA256 string `yaml:"sha256" json:"sha256"`
	// Format is raw, raw.zst or raw.gz; empty: by the name's extension.
	Format string `yaml:"format,omitempty" json:"format,omitempty"`
	// RootDevice picks the disk; none: the smallest non-removable disk large enough.
	RootDevice expect.RootDeviceHints `yaml:"root_device,omitempty" json:"root_device,omitzero"`
}

// ImageFormats are the formats the agent writes; qcow2 must be converted on the server.
var ImageFormats = []string{"raw", "raw.zst", "raw.gz"}

var hexSHA256 = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// Name is how reports and errors name the image: the artifact or the URL's last part.
func (im *Image) Name() string {
	s := im.Artifact
	if s == "" {
		s = im.URL
	}
	if i := strings.LastIndexByte(s, '/'); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	return s
}

// image checks what serve needs to hand the agent a deploy: a source and a checksum.
// The agent side checks the rest again before it writes anything.
func (v *validator) image(src source, path []string, im *Image) {
	if im == nil {
		return
	}
	at := func(keys ...string) Pos { return src.posAt(append(slices.Clone(path), keys...)...) }
	switch {
	case im.URL == "" && im.Artifact == "":
		v.add(at(), "give the image's url: (http or https) or artifact: (a path under serve's --artifacts)", "image has neither url nor artifact")
	case im.URL != "" && im.Artifact != "":
		v.add(at("artifact"), "keep one of url: and artifact:", "image has both url %q and artifact %q", im.URL, im.Artifact)
	case im.URL != "" && !strings.HasPrefix(im.URL, "http://") && !strings.HasPrefix(im.URL, "https://"):
		v.add(at("url"), "the agent streams images over HTTP: write an http:// or https:// URL", "image url %q is not http or https", im.URL)
	case im.Artifact != "" && (strings.HasPrefix(im.Artifact, "/") || slices.Contains(strings.Split(im.Artifact, "/"), "..")):
		v.add(at("artifact"), "write the path relative to serve's --artifacts directory, e.g. images/debian.raw.zst", "image artifact %q is not a path under the artifacts directory", im.Artifact)
	}
	if !hexSHA256.MatchString(im.SHA256) {
		v.add(at("sha256"), "write the sha256 of the raw (decompressed) image, 64 hex digits: `provision image import FILE` prints it; no checksum, no deploy",
			"image sha256 %q is not a SHA-256 digest", im.SHA256)
	}
	if im.Format != "" && !slices.Contains(ImageFormats, im.Format) {
		v.add(at("format"), "use raw, raw.zst or raw.gz; convert qcow2 on the server first (qemu-img convert -O raw)", "unknown image format %q", im.Format)
	}
	if h := im.RootDevice; h.MinSizeGiB < 0 || h.MaxSizeGiB < 0 || h.MaxSizeGiB > 0 && h.MaxSizeGiB < h.MinSizeGiB {
		v.add(at("root_device"), "sizes are GiB, min_size_gib <= max_size_gib", "root_device size range %d-%d GiB is empty", h.MinSizeGiB, h.MaxSizeGiB)
	}
}
