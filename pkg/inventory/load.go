package inventory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
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
			return nil, fmt.Errorf("inventory %s: no %s in this directory (a site directory holds site.yaml and racks/)", path, SiteFileName)
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

// decodeFile parses one YAML file into out, adding located errors to errs; the error
// returned is for a file that cannot be read at all.
func decodeFile(path string, out any, errs *Errors) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 0
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			fmt.Sscanf(err.Error(), "yaml: line %d:", &line)
		}
		errs.add(Pos{File: path, Line: line, Col: 1}, "check indentation and quoting on that line and the lines below it", "YAML syntax error: %v", err)
		(*errs)[len(*errs)-1].syntax = true
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		errs.add(Pos{File: path, Line: 1, Col: 1}, "write the site (site:, networks:) or rack (rack:, nodes:) in it, or delete it", "file is empty")
		(*errs)[len(*errs)-1].syntax = true
		return nil
	}
	decode(path, &doc, reflect.ValueOf(out).Elem(), errs)
	return nil
}
