package tftp

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Errors a request name can get; each is sent to the client as the TFTP error message.
var (
	ErrEmpty     = errors.New("empty file name")
	ErrAbsolute  = errors.New("absolute paths are refused: ask for a name relative to the TFTP root")
	ErrTraversal = errors.New("'..' is refused: the file must be inside the TFTP root")
	ErrBadChar   = errors.New("file name holds a NUL, backslash or control character")
)

// Resolve turns a requested TFTP file name into a slash-separated path relative to the
// root, refusing absolute names, '..' components and characters no boot file has. The
// result is always local (filepath.IsLocal holds). Symlinks are checked when the file is
// opened (os.Root), since a lexical check cannot see them.
func Resolve(name string) (string, error) {
	if name == "" {
		return "", ErrEmpty
	}
	for _, r := range name {
		if r == 0 || r == '\\' || r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%q: %w", name, ErrBadChar)
		}
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%q: %w", name, ErrAbsolute)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("%q: %w", name, ErrTraversal)
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", fmt.Errorf("%q: %w", name, ErrEmpty)
	}
	return clean, nil
}
