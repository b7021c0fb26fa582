package inventory

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/racklift/racklift/pkg/expect"
)

// decode fills v from n strictly: an unknown key, a wrong type or a duplicate key is an
// error at its own line and column, and decoding goes on so that every defect is reported
// in one run. yaml.v3's KnownFields reports only a line and stops at the first document
// error, which is not enough for files people edit by hand.
func decode(file string, n *yaml.Node, v reflect.Value, errs *Errors) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	pos := Pos{File: file, Line: n.Line, Col: n.Column}
	if n.Tag == "!!null" {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.Type().Elem().Kind() == reflect.Struct && n.Kind != yaml.MappingNode {
			// Leave it unset: a half-made object would only add follow-on errors.
			errs.add(pos, "write 'key: value' lines indented under it (see docs/inventory.md for the keys)", "expected a mapping (key: value lines), found %s", kindName(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		decode(file, n, v.Elem(), errs)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			errs.add(pos, "write 'key: value' lines indented under it (see docs/inventory.md for the keys)", "expected a mapping (key: value lines), found %s", kindName(n))
			return
		}
		fields := structFields(v.Type())
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			kpos := Pos{File: file, Line: k.Line, Col: k.Column}
			if seen[k.Value] {
				errs.add(kpos, "remove one of the two", "duplicate key %q", k.Value)
				continue
			}
			seen[k.Value] = true
			idx, ok := fields[k.Value]
			if !ok && isSecretKey(k.Value) {
				plainSecret(kpos, k.Value, credentialNameIn(v.Type(), n), errs)
				continue
			}
			if !ok {
				errs.add(kpos, hintFor(k.Value, fields), "unknown field %q in %s", k.Value, typeName(v.Type()))
				continue
			}
			decode(file, val, v.Field(idx), errs)
		}
		if s, ok := v.Addr().Interface().(interface{ setSource(string, *yaml.Node) }); ok {
			s.setSource(file, n)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			errs.add(pos, "write it as a list, one '- item' per line", "expected a list, found %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind == yaml.AliasNode {
				c = c.Alias
			}
			if c.Tag == "!!null" && v.Type().Elem().Kind() == reflect.Pointer {
				// A lone "-": a nil item would mean nothing and break every later step.
				errs.add(Pos{File: file, Line: c.Line, Col: c.Column}, "write the item after the '-', or delete the line", "empty list item")
				continue
			}
			item := reflect.New(v.Type().Elem()).Elem()
			decode(file, c, item, errs)
			if item.Kind() == reflect.Pointer && item.IsNil() {
				continue // not a mapping: reported
			}
			s = reflect.Append(s, item)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			errs.add(pos, "write 'key: value' lines, e.g. labels: {pool: research}", "expected a mapping, found %s", kindName(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode && isSecretKey(k.Value) {
				plainSecret(Pos{File: file, Line: k.Line, Col: k.Column}, k.Value, "", errs)
				continue
			}
			kv := reflect.New(v.Type().Key()).Elem()
			decode(file, n.Content[i], kv, errs)
			ev := reflect.New(v.Type().Elem()).Elem()
			decode(file, n.Content[i+1], ev, errs)
			m.SetMapIndex(kv, ev)
		}
		v.Set(m)
	default:
		decodeScalar(file, n, v, errs)
	}
}

func decodeScalar(file string, n *yaml.Node, v reflect.Value, errs *Errors) {
	pos := Pos{File: file, Line: n.Line, Col: n.Column}
	if n.Kind != yaml.ScalarNode {
		errs.add(pos, "write one value here, not a list or a mapping", "expected a single value, found %s", kindName(n))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if err != nil {
			errs.add(pos, "use true or false", "%q is not a boolean", n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if err != nil {
			errs.add(pos, "write a whole number", "%q is not a whole number", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			errs.add(pos, "write a number", "%q is not a number", n.Value)
			return
		}
		v.SetFloat(f)
	default:
		panic(fmt.Sprintf("inventory: cannot decode into %s", v.Type()))
	}
}

// fieldCache holds structFields' answers (reflect.Type to map[string]int). Inventories
// are loaded concurrently (serve's reload, API requests, parallel tests): a plain map
// filled in init raced as soon as a type was missing from init's list (the profile's
// image was), which -race found under make flake.
var fieldCache sync.Map

// structFields maps yaml keys to field indexes; fields tagged "-" are not keys.
func structFields(t reflect.Type) map[string]int {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]int)
	}
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		m[tag] = i
	}
	got, _ := fieldCache.LoadOrStore(t, m)
	return got.(map[string]int)
}

// hintFor suggests the known key closest to a misspelt one.
func hintFor(key string, fields map[string]int) string {
	best, bestD := "", 3
	for k := range fields {
		if d := editDistance(key, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return "known fields: " + strings.Join(keys, ", ")
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "something else"
}

func typeName(t reflect.Type) string {
	switch t {
	case reflect.TypeOf(siteFile{}):
		return "the site file"
	case reflect.TypeOf(Rack{}):
		return "a rack"
	}
	return strings.ToLower(goName(t))
}

// goName is a type's name as messages and the schema call it: the expect block's types
// live in pkg/expect but keep the names the inventory gave them.
func goName(t reflect.Type) string {
	switch t {
	case reflect.TypeOf(expect.GPU{}):
		return "GPUExpect"
	case reflect.TypeOf(expect.Storage{}):
		return "StorageExpect"
	}
	return t.Name()
}

// isSecretKey says whether a key names a secret that must not be written in the inventory.
func isSecretKey(key string) bool {
	k := strings.ToLower(strings.NewReplacer("-", "_", " ", "_").Replace(key))
	switch k {
	case "password", "passwd", "pass", "pwd", "secret", "token", "api_key", "apikey",
		"bmc_password", "ipmi_password", "redfish_password", "private_key", "secret_key", "access_key":
		return true
	}
	return strings.HasSuffix(k, "_password") || strings.HasSuffix(k, "_secret") || strings.HasSuffix(k, "_token")
}

// plainSecret reports a secret written in the inventory; the value itself is never echoed.
func plainSecret(p Pos, key, cred string, errs *Errors) {
	env := "RACKLIFT_CRED_<NAME>_PASSWORD"
	if cred != "" {
		env = EnvName(cred, "password")
	}
	errs.add(p,
		fmt.Sprintf("delete the line and reference a credential instead: set %s in the environment or put it in the secrets file (mode 0600, --secrets)", env),
		"plain-text secret %q in the inventory: passwords, secrets and tokens must not be written here", key)
}

// credentialNameIn finds the credential a mapping refers to, to name its variable in a hint.
func credentialNameIn(t reflect.Type, n *yaml.Node) string {
	key := ""
	switch t {
	case reflect.TypeOf(Credential{}):
		key = "name"
	case reflect.TypeOf(BMC{}):
		key = "credentials"
	default:
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return ""
}
