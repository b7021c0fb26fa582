package sanitize

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{name: "plain", in: "booted ok", want: "booted ok"},
		{name: "ESC sequence", in: "\x1b[2J\x1b]0;pwned\x07", want: `\x1b[2J\x1b]0;pwned\x07`},
		{name: "CR hides the line", in: "ok\rFAIL", want: `ok\x0dFAIL`},
		{name: "newline", in: "a\nb", want: `a\x0ab`},
		{name: "DEL", in: "a\x7f", want: `a\x7f`},
		{name: "C1 CSI", in: "a\u009b2J", want: `a\u009b2J`},
		{name: "bidi override", in: "abc\u202edef", want: `abc\u202edef`},
		{name: "invalid UTF-8", in: "a\xffb", want: `a\xffb`},
		{name: "backslash doubled", in: `a\x1b`, want: `a\\x1b`},
		{name: "tab kept", in: "a\tb", want: "a\tb"},
		{name: "unicode text kept", in: "Grüße", want: "Grüße"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Escape(tc.in); got != tc.want {
				t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCap(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		max  int
	}{
		{name: "short kept", in: "abc", max: 10},
		{name: "ascii cut", in: strings.Repeat("a", 1<<20), max: 512},
		{name: "rune boundary", in: strings.Repeat("ü", 1000), max: 101},
		{name: "tiny max", in: strings.Repeat("a", 100), max: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Cap(tc.in, tc.max)
			if len(tc.in) <= tc.max {
				if got != tc.in {
					t.Fatalf("Cap changed a short string: %q", got)
				}
				return
			}
			if !utf8.ValidString(got) {
				t.Errorf("Cap split a rune: %q", got)
			}
			if !strings.Contains(got, "bytes cut)") {
				t.Errorf("Cap(%d) = %q: no note of the cut", tc.max, got)
			}
			if tc.max >= 32 && len(got) > tc.max {
				t.Errorf("Cap(%d) returned %d bytes", tc.max, len(got))
			}
		})
	}
}

func TestPrintable(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{in: "gpu-a01-03", want: true},
		{in: "", want: false},
		{in: "a b", want: false},
		{in: "a\x1b[31m", want: false},
		{in: "höst", want: false},
	} {
		if got := Printable(tc.in); got != tc.want {
			t.Errorf("Printable(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func FuzzText(f *testing.F) {
	f.Add("\x1b[2Jhello\xff\u202e", 64)
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max%4096 + 40
		if max < 40 {
			max += 4096
		}
		got := Text(s, max)
		if len(got) > max {
			t.Fatalf("Text returned %d bytes over the cap %d", len(got), max)
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; c < 0x20 && c != '\t' || c == 0x7f {
				t.Fatalf("Text left control byte %#x in %q", c, got)
			}
		}
	})
}
