// Package sanitize bounds and escapes text that comes from the network (a callback's
// stage, an install file name, a DHCP hostname, an agent's report) before racklift stores
// or prints it: an unauthenticated client must not grow the state without bound nor
// drive the operator's terminal with escape sequences.
package sanitize

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The caps racklift applies to network text (docs/state.md lists them).
const (
	// Detail is the most bytes of an event's detail that are stored.
	Detail = 512
	// Reason is the most bytes of a node's failure reason that are stored.
	Reason = 2048
	// FileName is the longest install file name served or recorded.
	FileName = 128
	// Hostname is the longest DHCP hostname recorded (RFC 1035's 255 is the wire cap).
	Hostname = 64
)

// Escape returns s with every byte a terminal could act on written as a Go escape: C0 and
// C1 controls (ESC, CR, BEL, ...), DEL, invalid UTF-8, and the Unicode format characters
// that reorder or hide text (bidi overrides, zero-width). Printable text, spaces and tabs
// are kept as they are; a backslash is doubled so the escape is unambiguous.
func Escape(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\t' || r == ' ':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0, unicode.Is(unicode.Cf, r), !unicode.IsPrint(r) && !unicode.IsSpace(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		case unicode.IsSpace(r): // other spaces (NBSP, line separators): shown, never acted on
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += n
	}
	return b.String()
}

// clean reports whether s needs no escaping (the common case, without allocating).
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\t' || c == 0x7f || c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

// Cap returns s cut to at most max bytes on a rune boundary, with a note of how many
// bytes were cut, so a stored record says it is incomplete. max <= 0 means no cap.
func Cap(s string, max int) string {
	if max <= 0 || len(s) <= max {
		return s
	}
	note := fmt.Sprintf("…(%d bytes cut)", len(s)-max)
	keep := max - len(note)
	if keep < 0 {
		keep = 0
	}
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + note
}

// Text is untrusted text made safe to store and print: escaped, then capped to max bytes.
func Text(s string, max int) string { return Cap(Escape(s), max) }

// Printable reports whether s is non-empty printable ASCII without spaces, the only form
// racklift records for a name a client chose (a DHCP hostname).
func Printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
