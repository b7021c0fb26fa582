package cli

import (
	"io"
	"os"
)

// IsTerminal reports whether w is a terminal, where progress may be redrawn in place. It
// tests for a character device, so /dev/null counts too: harmless, nobody sees it.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
