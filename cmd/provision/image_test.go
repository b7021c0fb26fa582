package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racklift/racklift/pkg/imagestore"
)

func TestImageImportAndList(t *testing.T) {
	t.Parallel()
	art := t.TempDir()
	src := filepath.Join(t.TempDir(), "debian-13.raw")
	os.WriteFile(src, []byte("raw image bytes"), 0o644)
	out, errOut, code := runCLI(t, "image", "list", "--artifacts", art)
	if code != 0 || !strings.Contains(out, "no images under") {
		t.Fatalf("empty list: %d %q %q", code, out, errOut)
	}
	out, errOut, code = runCLI(t, "image", "import", src, "--artifacts", art)
	if code != 0 || !strings.Contains(out, "file: images/debian-13.raw") || !strings.Contains(out, "sha256: ") {
		t.Fatalf("import: %d %q %q", code, out, errOut)
	}
	out, _, code = runCLI(t, "image", "list", "--artifacts", art, "-o", "json")
	var ix imagestore.Index
	if err := json.Unmarshal([]byte(out), &ix); err != nil || code != 0 || len(ix.Images) != 1 || ix.Images[0].Name != "debian-13" || len(ix.Images[0].SHA256) != 64 || ix.Images[0].Size != 15 {
		t.Fatalf("list -o json: %d %v %q", code, err, out)
	}
	out, _, code = runCLI(t, "image", "list", "--artifacts", art)
	if code != 0 || !strings.Contains(out, "debian-13") || !strings.Contains(out, ix.Images[0].SHA256) {
		t.Fatalf("list table: %d %q", code, out)
	}
	_, errOut, code = runCLI(t, "image", "import", filepath.Join(t.TempDir(), "x.iso"), "--artifacts", art)
	if code == 0 || !strings.Contains(errOut, `unknown extension ".iso"`) {
		t.Fatalf("bad extension: %d %q", code, errOut)
	}
}
