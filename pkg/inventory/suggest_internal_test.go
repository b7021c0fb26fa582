package inventory

import (
	"slices"
	"strings"
	"testing"
)

// TestSuggestions: a hint names the closest known value within two edits (the first in
// alphabetical order on a tie), else lists the known values, else says none is defined;
// the lists of known names skip nameless and missing entries. Mutants (make mutate,
// validate.go closest, suggest, credHint, the name lists).
func TestSuggestions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		got   string
		known []string
		want  string
	}{
		{got: "prv", known: []string{"prov", "storage"}, want: "prov"},
		{got: "ab", known: []string{"aa", "ac"}, want: "aa"},
		{got: "ab", known: []string{"ac", "aa"}, want: "aa"},
		{got: "abc", known: []string{"xyz"}, want: ""}, // three edits: not a suggestion
		{got: "abc", known: []string{"xbz"}, want: "xbz"},
	} {
		if got := closest(tc.got, tc.known); got != tc.want {
			t.Errorf("closest(%q, %v) = %q, want %q", tc.got, tc.known, got, tc.want)
		}
	}
	for _, tc := range []struct {
		got   string
		known []string
		want  string
	}{
		{got: "prv", known: []string{"prov"}, want: `did you mean "prov"?`},
		{got: "zzz", known: []string{"prov", "storage"}, want: "use one of: prov, storage"},
		{got: "zzz", want: "none is defined"},
	} {
		if got := suggest(tc.got, tc.known); got != tc.want {
			t.Errorf("suggest(%q, %v) = %q, want %q", tc.got, tc.known, got, tc.want)
		}
	}
	if h := credHint("site-crd", []string{"site-cred"}); !strings.HasPrefix(h, `did you mean "site-cred"? Otherwise declare it`) {
		t.Errorf("credHint with a close name: %q", h)
	}
	if h := credHint("zzz", []string{"site-cred"}); !strings.HasPrefix(h, "declare it under 'credentials:'") {
		t.Errorf("credHint without one: %q", h)
	}

	v := &validator{inv: &Inventory{
		Networks:    []*Network{nil, {}, {Name: "prov"}},
		Profiles:    []*Profile{{Name: "base"}, nil, {}},
		Credentials: []*Credential{{}, {Name: "site-cred"}, nil},
	}}
	for what, tc := range map[string]struct{ got, want []string }{
		"networks":    {v.networkNames(), []string{"prov"}},
		"profiles":    {v.profileNames(), []string{"base"}},
		"credentials": {v.credNames(), []string{"site-cred"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s names %q, want %q", what, tc.got, tc.want)
		}
	}
	if err := CheckCmdline("console=ttyS0 quiet"); err != nil {
		t.Errorf("a cmdline with spaces refused: %v", err)
	}
	if err := CheckCmdline("$x console=ttyS0"); err == nil || !strings.Contains(err.Error(), "at byte 0") {
		t.Errorf("an operator at byte 0: %v, want refused at byte 0", err)
	}
}
