package inventory

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Pos is a place in an inventory file.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one located defect with a one-line fix hint.
type Error struct {
	Pos  Pos    `json:"pos"`
	Msg  string `json:"message"`
	Hint string `json:"hint,omitempty"`

	syntax bool // the file did not parse
}

func (e *Error) Error() string {
	if e.Hint == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s\n    hint: %s", e.Pos, e.Msg, e.Hint)
}

// Errors is every defect found in one load; validation never stops at the first.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

func (es *Errors) add(p Pos, hint, format string, args ...any) {
	*es = append(*es, &Error{Pos: p, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// sorted orders errors by file, line and column so output is stable.
func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return es
}

// source remembers where a decoded object came from.
type source struct {
	file   string
	node   *yaml.Node
	absent bool // a stand-in for a value not written (see sub)
}

func (s *source) setSource(file string, n *yaml.Node) { s.file, s.node = file, n }

// Pos is the position of the object itself.
func (s source) Pos() Pos {
	if s.node == nil {
		return Pos{File: s.file}
	}
	return Pos{File: s.file, Line: s.node.Line, Col: s.node.Column}
}

// At is the position of the value of key in the object, or of the object when the key is absent.
func (s source) At(key string) Pos {
	if s.node != nil && s.node.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(s.node.Content); i += 2 {
			if s.node.Content[i].Value == key {
				v := s.node.Content[i+1]
				return Pos{File: s.file, Line: v.Line, Col: v.Column}
			}
		}
	}
	return s.Pos()
}

// lookup descends through mapping keys (and list indexes) from the object; it returns the
// deepest YAML node reached and whether the whole path exists.
func (s source) lookup(path ...string) (*yaml.Node, bool) {
	n := s.node
	if n == nil {
		return nil, false
	}
	if s.absent {
		return n, false
	}
	for _, key := range path {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					next = n.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(key); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
			}
		}
		if next == nil {
			return n, false
		}
		n = next
	}
	return n, true
}

// sub is the source of the value at path; where the path is not written, the deepest
// enclosing value stands in for positions and has reports false.
func (s source) sub(path ...string) source {
	n, ok := s.lookup(path...)
	if !ok {
		return source{file: s.file, node: n, absent: true}
	}
	return source{file: s.file, node: n}
}

// has reports whether the object itself sets the value at path (not inherited).
func (s source) has(path ...string) bool {
	_, ok := s.lookup(path...)
	return ok
}

// posAt is the position of the value at path, or of the deepest enclosing value written.
func (s source) posAt(path ...string) Pos {
	n, _ := s.lookup(path...)
	if n == nil {
		return Pos{File: s.file}
	}
	return Pos{File: s.file, Line: n.Line, Col: n.Column}
}

// Positions of inventory objects, for callers that report errors about them.
func (n *Node) Pos() Pos                { return n.src.Pos() }
func (n *Node) PosOf(key string) Pos    { return n.src.At(key) }
func (n *Network) Pos() Pos             { return n.src.Pos() }
func (n *Network) PosOf(key string) Pos { return n.src.At(key) }
func (p *Profile) Pos() Pos             { return p.src.Pos() }
func (i *Interface) Pos() Pos           { return i.src.Pos() }
func (i *Interface) PosOf(k string) Pos { return i.src.At(k) }
func (r *Rack) Pos() Pos                { return r.src.Pos() }
func (p *Profile) PosOf(k string) Pos   { return p.src.At(k) }
func (c *Credential) Pos() Pos          { return c.src.Pos() }
func (r *Rack) PosOf(key string) Pos    { return r.src.At(key) }

// setSource lets decode record where each positioned object was written.
func (n *Node) setSource(f string, y *yaml.Node)       { n.src.setSource(f, y) }
func (n *Network) setSource(f string, y *yaml.Node)    { n.src.setSource(f, y) }
func (p *Profile) setSource(f string, y *yaml.Node)    { p.src.setSource(f, y) }
func (c *Credential) setSource(f string, y *yaml.Node) { c.src.setSource(f, y) }
func (i *Interface) setSource(f string, y *yaml.Node)  { i.src.setSource(f, y) }
func (r *Rack) setSource(f string, y *yaml.Node)       { r.src.setSource(f, y) }
func (s *siteFile) setSource(f string, y *yaml.Node)   { s.src.setSource(f, y) }
