// Package config gives every flag of a command two more sources: an environment variable
// RACKLIFT_<FLAG> (--http-port: RACKLIFT_HTTP_PORT) and a YAML file whose keys are the
// flag names (/etc/racklift/serve.yaml for serve). Precedence: a flag given on the command
// line, then the variable, then the file, then the flag's default.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every variable name.
const EnvPrefix = "RACKLIFT_"

// maxFile bounds the file read: it is configuration, not data.
const maxFile = 1 << 20

// EnvName is the variable that sets flag name: RACKLIFT_ and the name in upper case with
// dashes as underscores.
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Source says where each flag's value came from, for the startup log.
type Source map[string]string

// Apply sets every flag in fs that was not given on the command line from getenv, then
// from file. A missing file is no error unless required (the user named it); an unknown
// key or a value the flag refuses is an error naming file:line, and then no flag is set.
func Apply(flags *pflag.FlagSet, file string, required bool, getenv func(string) string) (Source, error) {
	vals := map[string]fileValue{}
	if file != "" {
		var err error
		if vals, err = readFile(file, required); err != nil {
			return nil, err
		}
	}
	for key, v := range vals {
		if flags.Lookup(key) == nil || key == "help" {
			return nil, fmt.Errorf("%s:%d: unknown key %q: the keys are the flag names (%s)", file, v.line, key, strings.Join(names(flags), ", "))
		}
	}
	type set struct{ name, value, from string }
	var sets []set
	var errs []error
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			sets = append(sets, set{f.Name, v, EnvName(f.Name)})
		} else if v, ok := vals[f.Name]; ok {
			sets = append(sets, set{f.Name, v.value, fmt.Sprintf("%s:%d", file, v.line)})
		}
	})
	// Check every value on a copy first, so a bad one changes nothing.
	for _, s := range sets {
		f := flags.Lookup(s.name)
		probe := pflag.NewFlagSet("probe", pflag.ContinueOnError)
		probe.AddFlag(&pflag.Flag{Name: f.Name, Value: cloneValue(f)})
		if err := probe.Set(f.Name, s.value); err != nil {
			errs = append(errs, fmt.Errorf("%s: --%s %q: %w", s.from, s.name, s.value, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	src := Source{}
	for _, s := range sets {
		if err := flags.Set(s.name, s.value); err != nil {
			return nil, fmt.Errorf("%s: --%s %q: %w", s.from, s.name, s.value, err)
		}
		src[s.name] = s.from
	}
	return src, nil
}

// cloneValue is a fresh value of f's type for a trial Set; a type it cannot copy is
// checked on f itself when set.
func cloneValue(f *pflag.Flag) pflag.Value {
	probe := pflag.NewFlagSet("clone", pflag.ContinueOnError)
	switch f.Value.Type() {
	case "int":
		probe.Int("x", 0, "")
	case "uint":
		probe.Uint("x", 0, "")
	case "bool":
		probe.Bool("x", false, "")
	case "duration":
		probe.Duration("x", 0, "")
	case "stringSlice":
		probe.StringSlice("x", nil, "")
	case "stringToString":
		probe.StringToString("x", nil, "")
	default:
		probe.String("x", "", "")
	}
	return probe.Lookup("x").Value
}

type fileValue struct {
	value string
	line  int
}

// readFile reads a flat YAML mapping of flag names to values; lists become
// comma-separated and maps k=v pairs, as the flags take them.
func readFile(path string, required bool) (map[string]fileValue, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return map[string]fileValue{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	defer f.Close()
	b := make([]byte, maxFile+1)
	n, _ := readFull(f, b)
	if n > maxFile {
		return nil, fmt.Errorf("config %s: larger than %d bytes", path, maxFile)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b[:n], &doc); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	out := map[string]fileValue{}
	if len(doc.Content) == 0 {
		return out, nil // empty or only comments
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping of flag names to values", path, m.Line)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		var s string
		switch v.Kind {
		case yaml.ScalarNode:
			s = v.Value
		case yaml.SequenceNode:
			var parts []string
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("%s:%d: %s: want a list of plain values", path, e.Line, k.Value)
				}
				parts = append(parts, e.Value)
			}
			s = strings.Join(parts, ",")
		case yaml.MappingNode:
			var parts []string
			for j := 0; j+1 < len(v.Content); j += 2 {
				parts = append(parts, v.Content[j].Value+"="+v.Content[j+1].Value)
			}
			s = strings.Join(parts, ",")
		default:
			return nil, fmt.Errorf("%s:%d: %s: want a value, list or mapping", path, v.Line, k.Value)
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("%s:%d: %s given twice", path, k.Line, k.Value)
		}
		out[k.Value] = fileValue{value: s, line: k.Line}
	}
	return out, nil
}

func readFull(f *os.File, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := f.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func names(flags *pflag.FlagSet) []string {
	var out []string
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" {
			out = append(out, f.Name)
		}
	})
	sort.Strings(out)
	return out
}
