package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// siteFile is site.yaml; a single-file inventory also carries its racks here.
type siteFile struct {
	Site        string        `yaml:"site"`
	Description string        `yaml:"description,omitempty"`
	Defaults    Defaults      `yaml:"defaults,omitempty"`
	TLS         TLS           `yaml:"tls,omitempty"`
	Credentials []*Credential `yaml:"credentials,omitempty"`
	Networks    []*Network    `yaml:"networks"`
	Profiles    []*Profile    `yaml:"profiles,omitempty"`
	Racks       []*Rack       `yaml:"racks,omitempty"`
	Switches    []*Switch     `yaml:"switches,omitempty"`
	Uplink      *Uplink       `yaml:"uplink,omitempty"`
	Login       *Login        `yaml:"login,omitempty"` // login.go
	src         source
}

// SiteFileName is the site file inside an inventory directory; racks live in RacksDir.
const (
	SiteFileName = "site.yaml"
	RacksDir     = "racks"
)

// Load reads an inventory from a directory (site.yaml plus racks/*.yaml) or from one
// file holding everything, applies defaults and validates it. When the inventory has
// defects the error is an Errors listing every one of them, located; the returned
// inventory is then nil.
func Load(path string) (*Inventory, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("inventory %s: %w (point -i at a site directory or a site file)", path, err)
	}
	sitePath, rackPaths := path, []string(nil)
	if fi.IsDir() {
		sitePath = filepath.Join(path, SiteFileName)
		if _, err := os.Stat(sitePath); err != nil {
			return nil, fmt.Errorf("inventory %s: no %s in this directory (a site directory holds site.yaml and racks/)%s", path, SiteFileName, sitesBelow(path))
		}
		for _, pat := range []string{"*.yaml", "*.yml"} {
			m, _ := filepath.Glob(filepath.Join(path, RacksDir, pat))
			rackPaths = append(rackPaths, m...)
		}
		sort.Strings(rackPaths)
	}

	var errs Errors
	site := &siteFile{}
	if err := decodeFile(sitePath, site, &errs); err != nil {
		return nil, err
	}
	syntaxOK := len(errs) == 0 || !errs[len(errs)-1].syntax
	racks := make([]*Rack, len(rackPaths))
	rackErrs := make([]Errors, len(rackPaths))
	var ioErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, p := range rackPaths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r := &Rack{}
			if err := decodeFile(p, r, &rackErrs[i]); err != nil {
				mu.Lock()
				ioErr = errors.Join(ioErr, err)
				mu.Unlock()
				return
			}
			r.File = p
			racks[i] = r
		}()
	}
	wg.Wait()
	if ioErr != nil {
		return nil, ioErr
	}
	for i := range rackErrs {
		if n := len(rackErrs[i]); n > 0 && rackErrs[i][n-1].syntax {
			racks[i] = nil // a rack file that does not parse means nothing; check the others
		}
		errs = append(errs, rackErrs[i]...)
	}
	if !syntaxOK {
		// Without a site file nothing can be checked: report its syntax error alone.
		return nil, errs.sorted()
	}
	return finish(path, sitePath, site, racks, rackPaths, errs)
}

// finish builds and validates the decoded files.
func finish(path, sitePath string, site *siteFile, racks []*Rack, rackPaths []string, errs Errors) (*Inventory, error) {
	for _, r := range site.Racks {
		r.File = sitePath
	}
	all := append(site.Racks, racks...)
	inv := &Inventory{Path: path, Files: append([]string{sitePath}, rackPaths...)}
	inv.build(site, all, &errs)
	if len(errs) > 0 {
		return nil, errs.sorted()
	}
	return inv, nil
}

// loadBytes loads a single-file inventory held in memory, named name in errors.
func loadBytes(name string, data []byte) (*Inventory, error) {
	var errs Errors
	site := &siteFile{}
	parse(name, data, site, &errs)
	if len(errs) > 0 && errs[len(errs)-1].syntax {
		return nil, errs.sorted()
	}
	return finish(name, name, site, nil, nil, errs)
}

// decodeFile parses one YAML file into out, adding located errors to errs; the error
// returned is for a file that cannot be read at all.
func decodeFile(path string, out any, errs *Errors) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	parse(path, data, out, errs)
	return nil
}

// parse decodes one file's text into out, adding located errors to errs; a file that
// cannot be checked at all (syntax, empty, not a mapping) ends with an error marked syntax.
func parse(path string, data []byte, out any, errs *Errors) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 0
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			fmt.Sscanf(err.Error(), "yaml: line %d:", &line)
		}
		if line == 0 {
			// "unexpected end of stream" and friends name no line: it is the end of the file.
			line = max(1, bytes.Count(data, []byte("\n")))
		}
		errs.add(Pos{File: path, Line: line, Col: 1}, "check indentation and quoting on that line and the lines below it", "YAML syntax error: %v", err)
		(*errs)[len(*errs)-1].syntax = true
		return
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		errs.add(Pos{File: path, Line: 1, Col: 1}, "write the site (site:, networks:) or rack (rack:, nodes:) in it, or delete it", "file is empty")
		(*errs)[len(*errs)-1].syntax = true
		return
	}
	if top := doc.Content[0]; top.Kind != yaml.MappingNode && !(top.Kind == yaml.AliasNode && top.Alias.Kind == yaml.MappingNode) {
		errs.add(Pos{File: path, Line: top.Line, Col: top.Column}, "an inventory file is a mapping: 'site: ...' or 'rack: ...' lines at the top level",
			"expected a mapping at the top of the file, found %s", kindName(top))
		(*errs)[len(*errs)-1].syntax = true
		return
	}
	decode(path, &doc, reflect.ValueOf(out).Elem(), errs)
}

// sitesBelow suggests site directories under dir, for an -i that points one level too high.
func sitesBelow(dir string) string {
	var found []string
	for _, pat := range []string{"*", "*/*"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat, SiteFileName))
		for _, f := range m {
			found = append(found, filepath.Dir(f))
		}
	}
	if len(found) == 0 {
		return ""
	}
	sort.Strings(found)
	if len(found) > 4 {
		found = found[:4]
	}
	return "; sites found below it: -i " + strings.Join(found, ", -i ")
}
