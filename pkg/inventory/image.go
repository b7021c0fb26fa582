package inventory

import (
	"regexp"
	"slices"
	"strings"
)

// ImageFormats are the formats the agent writes; qcow2 is converted on import.
var ImageFormats = []string{"raw", "zstd", "gzip"}

var hexSHA256 = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// image checks what serve needs to hand the agent a deploy: a file and a checksum. The
// agent checks the rest again before it writes anything.
func (v *validator) image(src source, path []string, im *Image) {
	if im == nil {
		return
	}
	at := func(keys ...string) Pos { return src.posAt(append(slices.Clone(path), keys...)...) }
	switch f := im.File; {
	case f == "":
		v.add(at(), "give the image's file: a path under serve's --artifacts (provision image import prints it) or an http(s) URL", "image has no file")
	case strings.Contains(f, "://") && !strings.HasPrefix(f, "http://") && !strings.HasPrefix(f, "https://"):
		v.add(at("file"), "the agent streams images over HTTP: write an http:// or https:// URL", "image file %q is not http or https", f)
	case !strings.Contains(f, "://") && (strings.HasPrefix(f, "/") || slices.Contains(strings.Split(f, "/"), "..")):
		v.add(at("file"), "write the path relative to serve's --artifacts directory, e.g. images/debian.raw.zst", "image file %q is not a path under the artifacts directory", f)
	}
	if !hexSHA256.MatchString(im.SHA256) {
		v.add(at("sha256"), "write the sha256 of the raw (decompressed) image, 64 hex digits: `provision image import FILE` prints it; no checksum, no deploy",
			"image sha256 %q is not a SHA-256 digest", im.SHA256)
	}
	if im.Format != "" && !slices.Contains(ImageFormats, im.Format) {
		v.add(at("format"), "use raw, zstd or gzip; convert qcow2 first (provision image import does)", "unknown image format %q", im.Format)
	}
	if h := im.RootDevice; h.MinSizeGiB < 0 || h.MaxSizeGiB < 0 || h.MaxSizeGiB > 0 && h.MaxSizeGiB < h.MinSizeGiB {
		v.add(at("root_device"), "sizes are GiB, min_size_gib <= max_size_gib", "root_device size range %d-%d GiB is empty", h.MinSizeGiB, h.MaxSizeGiB)
	}
}
