package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAgSK9SJDQK87Nht1pymGzMPqlD4Pz3VoRDMxM/w4zOn ops@jumphost"

// The site's login reaches every node; a profile's replaces it for its nodes.
func TestLoginForNode(t *testing.T) {
	t.Parallel()
	inv := mustLoad(t, filepath.Join("..", "..", "inventory", "examples", "site"))
	n := inv.Node("gpu-a01-01")
	l := inv.LoginFor(n)
	if l == nil || l.User != "ops" || len(l.AuthorizedKeys) != 1 || l.AuthorizedKeys[0] != testKey {
		t.Fatalf("LoginFor(gpu-a01-01) = %+v, want the site's ops login", l)
	}

	dir := labCopy(t, func(site string) string {
		site = "login: {user: ops, authorized_keys: [\"" + testKey + "\"]}\n" + site
		return strings.Replace(site, "  - name: lab\n", "  - name: lab\n    login:\n      user: train\n      authorized_keys: [\""+testKey+"\"]\n", 1)
	})
	inv = mustLoad(t, dir)
	if l := inv.LoginFor(inv.Nodes[0]); l == nil || l.User != "train" {
		t.Errorf("profile login = %+v, want train", l)
	}
	if l := mustLoad(t, filepath.Join("..", "..", "inventory", "examples", "lab")); l.LoginFor(l.Nodes[0]) != nil {
		t.Errorf("the lab sets no login, got %+v", l.LoginFor(l.Nodes[0]))
	}
}

// Bad logins are refused at load, each naming its file:line and what to do.
func TestLoginValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		login string
		want  string
	}{
		{name: "bad user", login: `{user: "Root User", authorized_keys: ["` + testKey + `"]}`, want: `:1:15: login user "Root User" is not a valid user name`},
		{name: "no keys", login: `{user: ops}`, want: `login for "ops" has no authorized_keys`},
		{name: "private key", login: `{user: ops, authorized_keys: ["-----BEGIN OPENSSH PRIVATE KEY----- b3Blbn"]}`, want: "authorized_keys[0]: this is a private key"},
		{name: "unknown type", login: `{user: ops, authorized_keys: ["ssh-foo AAAA"]}`, want: `authorized_keys[0]: key type "ssh-foo" is not an SSH public key type`},
		{name: "damaged blob", login: `{user: ops, authorized_keys: ["ssh-ed25519 AAAAC3NzaC1yc2E="]}`, want: "authorized_keys[0]: the key's base64 part is damaged or is not a ssh-ed25519 key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := loadErrors(t, labCopy(t, func(site string) string { return "login: " + tc.login + "\n" + site }))
			if !strings.Contains(errs.Error(), tc.want) || !strings.Contains(errs.Error(), "site.yaml:1:") {
				t.Errorf("errors:\n%s\nwant %q at site.yaml:1", errs.Error(), tc.want)
			}
		})
	}
}

// labCopy copies the lab example to a temporary directory, its site.yaml changed by edit.
func labCopy(t *testing.T, edit func(string) string) string {
	t.Helper()
	src := filepath.Join("..", "..", "inventory", "examples", "lab")
	dir := t.TempDir()
	for _, f := range []string{"site.yaml", filepath.Join("racks", "lab.yaml")} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		body := string(b)
		if f == "site.yaml" {
			body = edit(body)
		}
		writeFile(t, dir, f, body)
	}
	return dir
}
