package inventory

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// schemaCheck validates a decoded YAML document against the subset of JSON Schema that
// JSONSchema emits ($ref, allOf, if/then/else, type, properties, required,
// additionalProperties, items, enum, minimum, maximum, pattern), returning the problems.
func schemaCheck(root, s map[string]any, v any, at string) []string {
	var out []string
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/definitions/")
		return schemaCheck(root, root["definitions"].(map[string]any)[name].(map[string]any), v, at)
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			out = append(out, schemaCheck(root, sub.(map[string]any), v, at)...)
		}
	}
	if cond, ok := s["if"].(map[string]any); ok {
		branch := "else"
		if len(schemaCheck(root, cond, v, at)) == 0 {
			branch = "then"
		}
		out = append(out, schemaCheck(root, s[branch].(map[string]any), v, at)...)
	}
	switch want := s["type"]; want {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return append(out, at+": not an object")
		}
		props, _ := s["properties"].(map[string]any)
		for k, val := range m {
			if p, ok := props[k]; ok {
				out = append(out, schemaCheck(root, p.(map[string]any), val, at+"."+k)...)
			} else if ap, ok := s["additionalProperties"]; ok {
				if ap == false {
					out = append(out, at+": unknown key "+k)
				} else if aps, ok := ap.(map[string]any); ok {
					out = append(out, schemaCheck(root, aps, val, at+"."+k)...)
				}
			}
		}
		req, _ := s["required"].([]string)
		for _, r := range req {
			if _, ok := m[r]; !ok {
				out = append(out, at+": missing "+r)
			}
		}
	case "array":
		l, ok := v.([]any)
		if !ok {
			return append(out, at+": not an array")
		}
		for i, e := range l {
			out = append(out, schemaCheck(root, s["items"].(map[string]any), e, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return append(out, fmt.Sprintf("%s: %v is not a string", at, v))
		}
		if e, ok := s["enum"].([]string); ok && !slices.Contains(e, str) {
			out = append(out, fmt.Sprintf("%s: %q not in %v", at, str, e))
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			out = append(out, fmt.Sprintf("%s: %q does not match %s", at, str, p))
		}
	case "integer", "number", "boolean":
		var f float64
		switch x := v.(type) {
		case int:
			f = float64(x)
		case float64:
			if want == "integer" {
				return append(out, at+": not an integer")
			}
			f = x
		case bool:
			if want != "boolean" {
				return append(out, at+": not a number")
			}
		default:
			return append(out, fmt.Sprintf("%s: %v is not a %s", at, v, want))
		}
		if m, ok := s["minimum"].(int); ok && f < float64(m) {
			out = append(out, fmt.Sprintf("%s: %v below %d", at, v, m))
		}
		if m, ok := s["maximum"].(int); ok && f > float64(m) {
			out = append(out, fmt.Sprintf("%s: %v above %d", at, v, m))
		}
	}
	return out
}

// schemaRoot is the generated schema as Go values (typed as JSONSchema built them).
func schemaRoot(t *testing.T) map[string]any {
	t.Helper()
	g := &schemaGen{defs: map[string]any{}}
	site, rack := g.ref(typeOfSite), g.ref(typeOfRack)
	return map[string]any{"if": map[string]any{"type": "object", "required": []string{"rack"}}, "then": rack, "else": site, "definitions": g.defs}
}

func checkYAML(t *testing.T, root map[string]any, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return schemaCheck(root, root, v, filepath.Base(path))
}

func TestSchemaAcceptsExamples(t *testing.T) {
	t.Parallel()
	root := schemaRoot(t)
	files, _ := filepath.Glob(filepath.Join("..", "..", "inventory", "examples", "*", "*.yaml"))
	racks, _ := filepath.Glob(filepath.Join("..", "..", "inventory", "examples", "*", "racks", "*.yaml"))
	files = append(files, racks...)
	if len(files) < 5 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		if errs := checkYAML(t, root, f); len(errs) > 0 {
			t.Errorf("%s: %v", f, errs)
		}
	}
	// A single-file site with racks inside also validates.
	p := filepath.Join(t.TempDir(), "one.yaml")
	if err := os.WriteFile(p, []byte(single), 0o644); err != nil {
		t.Fatal(err)
	}
	if errs := checkYAML(t, root, p); len(errs) > 0 {
		t.Errorf("single file: %v", errs)
	}
}

func TestSchemaRejectsWhatValidateRejects(t *testing.T) {
	t.Parallel()
	root := schemaRoot(t)
	dir := filepath.Join("..", "..", "inventory", "testdata", "broken")
	got := strings.Join(append(checkYAML(t, root, filepath.Join(dir, "site.yaml")), checkYAML(t, root, filepath.Join(dir, "racks", "r2.yaml"))...), "\n")
	for _, want := range []string{
		"unknown key vlna", "unknown key password", `"outofband" not in`, `"static" not in`,
		"5000 above 4094", "100 below 576", `"ipxe64.efi" not in`, `"snmp" not in`, "unknown key lables",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("schema does not catch %q; it says:\n%s", want, got)
		}
	}
}

// The committed schema must be what `provision schema` prints now.
func TestSchemaFileInSync(t *testing.T) {
	t.Parallel()
	want, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", "inventory", "schema.json"))
	if err != nil || string(got) != string(want) {
		t.Fatalf("inventory/schema.json is out of date with the inventory types (%v): run 'make schema' and commit it", err)
	}
	var v map[string]any
	if err := json.Unmarshal(got, &v); err != nil || v["$schema"] == nil {
		t.Fatalf("schema.json is not a JSON Schema: %v", err)
	}
}
