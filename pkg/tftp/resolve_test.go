package tftp

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	fast(t)
	for _, tc := range []struct {
		name string
		want string
		err  error
	}{
		{"undionly.kpxe", "undionly.kpxe", nil},
		{"arm64/ipxe.efi", "arm64/ipxe.efi", nil},
		{"./ipxe.efi", "ipxe.efi", nil},
		{"a//b", "a/b", nil},
		{"boot file.efi", "boot file.efi", nil}, // a space is no control character
		{"", "", ErrEmpty},
		{".", "", ErrEmpty},
		{"/etc/passwd", "", ErrAbsolute},
		{"../etc/passwd", "", ErrTraversal},
		{"arm64/../../x", "", ErrTraversal},
		{"a/..", "", ErrTraversal},
		{`..\..\boot.ini`, "", ErrBadChar},
		{"a\x00b", "", ErrBadChar},
		{"a\nb", "", ErrBadChar},
	} {
		got, err := Resolve(tc.name)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}

// FuzzResolve: whatever a client sends, an accepted name stays inside the root.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"undionly.kpxe", "../x", "/etc/passwd", "a/../../b", "a/./b", "...", "..\\x", "a/b/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, err := Resolve(name)
		if err != nil {
			return
		}
		if !filepath.IsLocal(got) {
			t.Fatalf("Resolve(%q) = %q: not local", name, got)
		}
		for _, part := range strings.Split(got, "/") {
			if part == ".." || part == "" {
				t.Fatalf("Resolve(%q) = %q: bad component", name, got)
			}
		}
		if strings.HasPrefix(got, "/") || strings.ContainsAny(got, "\\\x00") {
			t.Fatalf("Resolve(%q) = %q", name, got)
		}
	})
}
