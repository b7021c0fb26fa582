package imagestore

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/racklift/racklift/internal/testenv"
)

func TestImportRecordsRawChecksum(t *testing.T) {
	raw := bytes.Repeat([]byte("racklift image "), 100000)
	s := sha256.Sum256(raw)
	want := hex.EncodeToString(s[:])
	src := t.TempDir()
	var zb, gb bytes.Buffer
	zw, _ := zstd.NewWriter(&zb)
	zw.Write(raw)
	zw.Close()
	gw := gzip.NewWriter(&gb)
	gw.Write(raw)
	gw.Close()
	files := map[string][]byte{"debian-13.raw": raw, "debian-13.raw.zst": zb.Bytes(), "ubuntu.img.gz": gb.Bytes()}
	for n, b := range files {
		os.WriteFile(filepath.Join(src, n), b, 0o644)
	}
	art := t.TempDir()
	for _, tc := range []struct {
		file, name, wantName, wantFormat, wantFile string
	}{
		{file: "debian-13.raw", wantName: "debian-13", wantFormat: "raw", wantFile: "images/debian-13.raw"},
		{file: "debian-13.raw.zst", name: "debian-13-zst", wantName: "debian-13-zst", wantFormat: "zstd", wantFile: "images/debian-13-zst.raw.zst"},
		{file: "ubuntu.img.gz", wantName: "ubuntu", wantFormat: "gzip", wantFile: "images/ubuntu.raw.gz"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			img, err := Import(art, filepath.Join(src, tc.file), tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if img.Name != tc.wantName || img.Format != tc.wantFormat || img.File != tc.wantFile || img.SHA256 != want || img.Size != int64(len(raw)) || img.FileSize != int64(len(files[tc.file])) {
				t.Fatalf("Import = %+v", img)
			}
			got, err := os.ReadFile(filepath.Join(art, img.File))
			if err != nil || !bytes.Equal(got, files[tc.file]) {
				t.Fatalf("the copy under the artifacts differs: %v", err)
			}
		})
	}
	ix, err := Load(art)
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Images) != 3 || ix.Images[0].Name != "debian-13" {
		t.Fatalf("index = %+v", ix.Images)
	}
	// Importing a name again replaces its entry.
	if _, err := Import(art, filepath.Join(src, "debian-13.raw"), ""); err != nil {
		t.Fatal(err)
	}
	if ix, _ := Load(art); len(ix.Images) != 3 {
		t.Fatalf("re-import: %d entries, want 3", len(ix.Images))
	}
	if left, _ := filepath.Glob(filepath.Join(art, "images", ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestImportRefusals(t *testing.T) {
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "x.iso"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(src, "bad.raw.zst"), []byte("not zstd at all"), 0o644)
	for _, tc := range []struct{ file, name, want string }{
		{file: "x.iso", want: `unknown extension ".iso"`},
		{file: "bad.raw.zst", want: "bad.raw.zst (zstd)"},
		{file: "bad.raw.zst", name: "../etc", want: `image name "../etc"`},
	} {
		t.Run(tc.file+tc.name, func(t *testing.T) {
			art := t.TempDir()
			_, err := Import(art, filepath.Join(src, tc.file), tc.name)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if ix, _ := Load(art); len(ix.Images) != 0 {
				t.Errorf("a refused import was recorded: %+v", ix.Images)
			}
		})
	}
}

func TestImportConvertsQcow2(t *testing.T) {
	testenv.NeedCommand(t, "qemu-img")
	dir := t.TempDir()
	raw := filepath.Join(dir, "src.raw")
	os.WriteFile(raw, bytes.Repeat([]byte{7}, 1<<20), 0o644)
	q := filepath.Join(dir, "vm.qcow2")
	if out, err := exec.Command("qemu-img", "convert", "-O", "qcow2", raw, q).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	img, err := Import(t.TempDir(), q, "")
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(bytes.Repeat([]byte{7}, 1<<20))
	if img.Format != "raw" || img.SHA256 != hex.EncodeToString(s[:]) || img.Name != "vm" {
		t.Fatalf("Import(qcow2) = %+v, want raw with the raw sha256", img)
	}
}
