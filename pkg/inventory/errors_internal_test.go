package inventory

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestErrorsReadAndSort: each error reads "file:line:col: message" with its hint on the
// next line when it has one, a position without a line is the file alone, several
// errors are one per line, and they sort by file, then line, then column, keeping the
// order of equal positions. Mutants (make mutate, errors.go): the hint and line checks,
// the separator, the comparisons of sorted.
func TestErrorsReadAndSort(t *testing.T) {
	t.Parallel()
	e := &Error{Pos: Pos{File: "racks/r1.yaml", Line: 3, Col: 5}, Msg: "unknown profile \"gpu\"", Hint: "define it under profiles:"}
	if got, want := e.Error(), "racks/r1.yaml:3:5: unknown profile \"gpu\"\n    hint: define it under profiles:"; got != want {
		t.Errorf("with hint: %q, want %q", got, want)
	}
	e.Hint = ""
	if got, want := e.Error(), "racks/r1.yaml:3:5: unknown profile \"gpu\""; got != want {
		t.Errorf("without hint: %q, want %q", got, want)
	}
	if got := (Pos{File: "site.yaml"}).String(); got != "site.yaml" {
		t.Errorf("no line: %q", got)
	}
	if got := (Pos{File: "site.yaml", Line: 1, Col: 1}).String(); got != "site.yaml:1:1" {
		t.Errorf("line 1: %q", got)
	}

	es := Errors{
		{Pos: Pos{File: "site.yaml", Line: 9, Col: 1}, Msg: "d"},
		{Pos: Pos{File: "racks/r1.yaml", Line: 3, Col: 7}, Msg: "c"},
		{Pos: Pos{File: "racks/r1.yaml", Line: 3, Col: 5}, Msg: "b1"},
		{Pos: Pos{File: "racks/r1.yaml", Line: 3, Col: 5}, Msg: "b2"},
		{Pos: Pos{File: "racks/r1.yaml", Line: 2, Col: 9}, Msg: "a"},
	}.sorted()
	var order []string
	for _, e := range es {
		order = append(order, e.Msg)
	}
	if got := strings.Join(order, " "); got != "a b1 b2 c d" {
		t.Errorf("sorted: %s, want a b1 b2 c d", got)
	}
	if got := es[:2].Error(); got != "racks/r1.yaml:2:9: a\nracks/r1.yaml:3:5: b1" {
		t.Errorf("two errors: %q", got)
	}
}

// TestLookupListIndexes: a path may index a list: inside it a value is found, past
// either end nothing is, and an absent stand-in finds nothing. Mutants (make mutate,
// errors.go lookup): the index bounds.
func TestLookupListIndexes(t *testing.T) {
	t.Parallel()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("nics:\n  - name: eno1\n  - name: eno2\n"), &doc); err != nil {
		t.Fatal(err)
	}
	s := source{file: "racks/r1.yaml", node: doc.Content[0]}
	for _, tc := range []struct {
		path []string
		ok   bool
		want string
	}{
		{path: []string{"nics", "0", "name"}, ok: true, want: "eno1"},
		{path: []string{"nics", "1", "name"}, ok: true, want: "eno2"},
		{path: []string{"nics", "2", "name"}, ok: false},
		{path: []string{"nics", "-1", "name"}, ok: false},
		{path: []string{"nics", "x"}, ok: false},
	} {
		n, ok := s.lookup(tc.path...)
		if ok != tc.ok || ok && n.Value != tc.want {
			t.Errorf("lookup %v: %v %q, want %v %q", tc.path, ok, n.Value, tc.ok, tc.want)
		}
	}
	if _, ok := (source{file: "f", node: doc.Content[0], absent: true}).lookup("nics"); ok {
		t.Error("an absent stand-in found a value")
	}
	if p := s.At("nics"); p.Line != 2 || p.Col != 3 {
		t.Errorf("At(nics) = %v, want line 2 col 3", p)
	}
	if p := s.At("missing"); p.Line != 1 || p.Col != 1 {
		t.Errorf("At(missing) = %v, want the object's own position 1:1", p)
	}
}
