package api

import "testing"

// TestCleanReplacesOnlyControlCharacters: text from a node is cut at max bytes and every
// control character (C0 and DEL) becomes '_'; everything else, space included, stays.
// Mutants (make mutate, issue 20): the control-character test loosened or flipped.
func TestCleanReplacesOnlyControlCharacters(t *testing.T) {
	t.Parallel()
	for r := rune(0); r < 0x100; r++ {
		want := string(r)
		if r < 0x20 || r == 0x7f {
			want = "_"
		}
		if got := clean(string(r), 8); got != want {
			t.Errorf("clean(%q) = %q, want %q", r, got, want)
		}
	}
	if got := clean("gpu-01 ok\x1b[2J", 9); got != "gpu-01 ok" {
		t.Errorf("clean cut at 9 = %q, want %q", got, "gpu-01 ok")
	}
	if got := clean("ab\ncd", 100); got != "ab_cd" {
		t.Errorf("clean = %q, want ab_cd", got)
	}
}
