// Package imagestore records OS images under serve's artifacts directory: `provision
// image import` copies an image into images/, computes the sha256 of its raw bytes (after
// decompression: what the agent verifies on the disk) and keeps a small index, which
// `provision image list` prints and profiles copy their image file and sha256 from.
package imagestore

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/racklift/racklift/pkg/atomicfile"
)

// Dir is the images' directory under the artifacts directory; serve answers them at
// /artifacts/images/FILE.
const Dir = "images"

// IndexFile is the index's name inside Dir.
const IndexFile = "index.json"

// Formats the agent writes, and the file extensions that name them.
var Formats = []string{"raw", "zstd", "gzip"}

// FormatOf names an image's format by its file name: .raw/.img raw, .zst zstd, .gz
// gzip; qcow2 is named so the caller can convert it; anything else is an error.
func FormatOf(name string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(name)); ext {
	case ".raw", ".img":
		return "raw", nil
	case ".zst", ".zstd":
		return "zstd", nil
	case ".gz":
		return "gzip", nil
	case ".qcow2":
		return "qcow2", nil
	default:
		return "", fmt.Errorf("image %s: unknown extension %q: use .raw or .img (raw), .zst (zstd), .gz (gzip) or .qcow2 (converted to raw on import)", name, ext)
	}
}

// Image is one entry of the index (the wire document of `image list -o json`).
type Image struct {
	Name     string    `json:"name"`
	File     string    `json:"file"`   // path under the artifacts directory, images/NAME.EXT
	Format   string    `json:"format"` // raw, zstd or gzip
	SHA256   string    `json:"sha256"` // of the raw image, as the agent verifies it
	Size     int64     `json:"size"`   // raw bytes
	FileSize int64     `json:"file_size"`
	Imported time.Time `json:"imported"`
}

// Index is images/index.json.
type Index struct {
	Images []Image `json:"images"`
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$`)

// Load reads the index under artifacts; a missing index is empty.
func Load(artifacts string) (*Index, error) {
	b, err := os.ReadFile(filepath.Join(artifacts, Dir, IndexFile))
	if errors.Is(err, os.ErrNotExist) {
		return &Index{}, nil
	}
	if err != nil {
		return nil, err
	}
	var ix Index
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(artifacts, Dir, IndexFile), err)
	}
	return &ix, nil
}

// Import copies file into artifacts/images as NAME.EXT (name: the file's base name
// without its extensions, unless given), hashing its raw bytes on the way, and records
// it in the index (replacing an entry of the same name). A qcow2 file is converted to
// raw with qemu-img first: the node never parses qcow2.
func Import(artifacts, file, name string) (Image, error) {
	format, err := FormatOf(file)
	if err != nil {
		return Image{}, err
	}
	base := filepath.Base(file)
	if name == "" {
		name = strings.TrimSuffix(base, filepath.Ext(base))
		name = strings.TrimSuffix(name, ".raw")
		name = strings.TrimSuffix(name, ".img")
	}
	if !nameRE.MatchString(name) {
		return Image{}, fmt.Errorf("image name %q: use letters, digits, '.', '_' and '-' (up to 64)", name)
	}
	dir := filepath.Join(artifacts, Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Image{}, err
	}
	src := file
	if format == "qcow2" {
		conv := filepath.Join(dir, "."+name+".converting.raw")
		defer os.Remove(conv)
		out, err := exec.Command("qemu-img", "convert", "-O", "raw", file, conv).CombinedOutput()
		if err != nil {
			return Image{}, fmt.Errorf("image %s is qcow2 and the node only takes raw, zstd or gzip: qemu-img convert -O raw: %v: %s", file, err, strings.TrimSpace(string(out)))
		}
		src, format = conv, "raw"
	}
	ext := map[string]string{"raw": ".raw", "zstd": ".raw.zst", "gzip": ".raw.gz"}[format]
	rel := filepath.Join(Dir, name+ext)
	img := Image{Name: name, File: filepath.ToSlash(rel), Format: format, Imported: time.Now().UTC().Truncate(time.Second)}
	in, err := os.Open(src)
	if err != nil {
		return Image{}, err
	}
	defer in.Close()
	dst := filepath.Join(artifacts, rel)
	tmp, err := os.CreateTemp(dir, "."+name+".importing-")
	if err != nil {
		return Image{}, err
	}
	defer os.Remove(tmp.Name())
	// One read of the file: copied to the artifacts and decompressed into the hash.
	pr, pw := io.Pipe()
	type hashed struct {
		sum  string
		size int64
		err  error
	}
	done := make(chan hashed, 1)
	go func() {
		sum, size, err := rawSHA256(pr, format)
		pr.CloseWithError(err)
		io.Copy(io.Discard, pr)
		done <- hashed{sum, size, err}
	}()
	n, cerr := io.Copy(io.MultiWriter(tmp, pw), in)
	pw.CloseWithError(cerr)
	h := <-done
	if h.err != nil { // the pipe then fails the copy with the same error
		tmp.Close()
		return Image{}, fmt.Errorf("image %s (%s): %w", file, format, h.err)
	}
	if cerr != nil {
		tmp.Close()
		return Image{}, fmt.Errorf("copying %s: %w", file, cerr)
	}
	if err := tmp.Sync(); err != nil {
		return Image{}, err
	}
	tmp.Close()
	os.Chmod(tmp.Name(), 0o644)
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return Image{}, err
	}
	img.SHA256, img.Size, img.FileSize = h.sum, h.size, n
	ix, err := Load(artifacts)
	if err != nil {
		return Image{}, err
	}
	ix.Images = slices.DeleteFunc(ix.Images, func(i Image) bool { return i.Name == name })
	ix.Images = append(ix.Images, img)
	slices.SortFunc(ix.Images, func(a, b Image) int { return strings.Compare(a.Name, b.Name) })
	b, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return Image{}, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, IndexFile), append(b, '\n'), 0o644); err != nil {
		return Image{}, err
	}
	return img, nil
}

// rawSHA256 hashes the decompressed bytes of r.
func rawSHA256(r io.Reader, format string) (string, int64, error) {
	var raw io.Reader = r
	switch format {
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderMaxWindow(1<<31))
		if err != nil {
			return "", 0, err
		}
		defer zr.Close()
		raw = zr
	case "gzip":
		gr, err := gzip.NewReader(r)
		if err != nil {
			return "", 0, err
		}
		raw = gr
	}
	h := sha256.New()
	n, err := io.Copy(h, raw)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
