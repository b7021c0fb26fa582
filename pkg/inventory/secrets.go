package inventory

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Secret is a resolved BMC login. Its String and GoString never show the password, so a
// Secret that reaches a log line or an error by accident stays safe.
type Secret struct {
	Username string
	Password string
}

func (s Secret) String() string   { return fmt.Sprintf("%s:<redacted>", s.Username) }
func (s Secret) GoString() string { return s.String() }

// MarshalJSON and MarshalYAML keep the password out of -o json|yaml output too.
func (s Secret) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"username": s.Username, "password": "<redacted>"})
}
func (s Secret) MarshalYAML() (any, error) {
	return map[string]string{"username": s.Username, "password": "<redacted>"}, nil
}

// EnvName is the environment variable read for a credential field, e.g.
// RACKLIFT_CRED_BMC_DEFAULT_PASSWORD for credential "bmc-default", field "password".
func EnvName(credential, field string) string {
	up := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, credential)
	return "RACKLIFT_CRED_" + up + "_" + strings.ToUpper(field)
}

// SecretsFileEnv names a secrets file to read when a credential is not in the environment.
const SecretsFileEnv = "RACKLIFT_SECRETS"

// DefaultSecretsFile is read when RACKLIFT_SECRETS is unset.
const DefaultSecretsFile = "/etc/racklift/secrets.yaml"

// Secrets resolves credential references. Order: environment variables, then the secrets
// file (a YAML map of credential name to username/password, which must be mode 0600).
type Secrets struct {
	File string // empty: $RACKLIFT_SECRETS, else DefaultSecretsFile
	file map[string]Secret
	read bool
}

// String and GoString keep a printed resolver from showing the passwords it has read:
// fmt does not call Secret.String on values reached through unexported fields.
func (s Secrets) String() string {
	return fmt.Sprintf("inventory.Secrets{File: %q, loaded: %d}", s.path(), len(s.file))
}
func (s Secrets) GoString() string { return s.String() }

// Resolve returns the login for a credential reference of the inventory.
func (s *Secrets) Resolve(inv *Inventory, name string) (Secret, error) {
	c := inv.Credential(name)
	if c == nil {
		return Secret{}, fmt.Errorf("credential %q is not declared in the site's credentials", name)
	}
	sec := Secret{Username: c.Username}
	if u := os.Getenv(EnvName(name, "username")); u != "" {
		sec.Username = u
	}
	if p, ok := os.LookupEnv(EnvName(name, "password")); ok {
		sec.Password = p
		return sec, nil
	}
	if err := s.load(); err != nil {
		return Secret{}, err
	}
	if f, ok := s.file[name]; ok {
		if f.Username != "" {
			sec.Username = f.Username
		}
		sec.Password = f.Password
		return sec, nil
	}
	return Secret{}, fmt.Errorf("no password for credential %q: set %s or add %q to the secrets file %s (mode 0600)",
		name, EnvName(name, "password"), name, s.path())
}

func (s *Secrets) path() string {
	if s.File != "" {
		return s.File
	}
	if p := os.Getenv(SecretsFileEnv); p != "" {
		return p
	}
	return DefaultSecretsFile
}

func (s *Secrets) load() error {
	// read is set only once the file has loaded: after a refusal (a loose mode, a parse
	// error) or while it does not exist, the next use tries again, so fixing the file
	// takes effect without restarting serve and the error stays the real one.
	if s.read {
		return nil
	}
	p := s.path()
	fi, err := os.Stat(p)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("secrets file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("secrets file %s has mode %04o: run 'chmod 600 %s' (it must not be readable by others)", p, fi.Mode().Perm(), p)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("secrets file: %w", err)
	}
	var raw map[string]struct {
		Username string `yaml:"username"`
		Password string `yaml:"password"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		// yaml errors can quote the offending text; never echo a secrets file.
		return fmt.Errorf("secrets file %s is not a YAML map of credential name to username/password", p)
	}
	s.file = make(map[string]Secret, len(raw))
	for k, v := range raw {
		s.file[k] = Secret{Username: v.Username, Password: v.Password}
	}
	s.read = true
	return nil
}
