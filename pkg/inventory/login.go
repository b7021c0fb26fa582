package inventory

import (
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"

	"github.com/racklift/racklift/pkg/expect"
)

// Login is who can log in to an installed node: a user and the SSH public keys in its
// authorized_keys. Set at the site (login:) and per profile (profiles[].login:, which
// replaces the site's); image deploy and the install templates put it on the node, and
// `export ansible` sets ansible_user to User. One type with the wire's (expect.Login).
type Login = expect.Login

// DefaultLoginUser is the user the install templates create when no login names one.
const DefaultLoginUser = "racklift"

// LoginFor is the node's login: its profile's, else the site's; nil when neither sets one.
func (inv *Inventory) LoginFor(n *Node) *Login {
	if n != nil && n.Spec != nil && n.Spec.Login != nil {
		return n.Spec.Login
	}
	if p := inv.profileByName[n.Profile]; p != nil && p.Login != nil {
		return p.Login
	}
	if inv.site != nil {
		return inv.site.Login
	}
	return nil
}

var (
	// A POSIX portable user name, as useradd accepts by default, and not too long for utmp.
	loginUserRe = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	sshKeyTypes = []string{"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
		"ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"}
)

// login checks a login block at path under src: a user name useradd takes, at least one
// key, each an OpenSSH public key line (type, base64 blob that says the same type,
// optional comment) and never a private key.
func (v *validator) login(src source, path []string, l *Login) {
	at := func(keys ...string) Pos { return src.posAt(append(append([]string{}, path...), keys...)...) }
	if !loginUserRe.MatchString(l.User) {
		v.add(at("user"), "a lower-case user name such as 'ops' (letters, digits, '_' and '-', at most 32)", "login user %q is not a valid user name", l.User)
	}
	if len(l.AuthorizedKeys) == 0 {
		v.add(at(), "list the public keys (the contents of ~/.ssh/id_ed25519.pub) under authorized_keys:", "login for %q has no authorized_keys: nobody could log in", l.User)
	}
	for i, k := range l.AuthorizedKeys {
		if msg, hint := checkAuthorizedKey(k); msg != "" {
			v.add(at("authorized_keys", strconv.Itoa(i)), hint, "authorized_keys[%d]: %s", i, msg)
		}
	}
}

// checkAuthorizedKey says what is wrong with one authorized_keys line ("" if nothing).
func checkAuthorizedKey(k string) (msg, hint string) {
	if strings.Contains(k, "PRIVATE KEY") {
		return "this is a private key: never put one in the inventory", "use the .pub file's line; remove this key from git history and replace it"
	}
	if strings.ContainsAny(k, "\n\r") {
		return "a key is one line", "one list entry per key"
	}
	f := strings.Fields(k)
	if len(f) < 2 {
		return "not an OpenSSH public key (want 'TYPE BASE64 [comment]')", "paste the line of ~/.ssh/id_ed25519.pub"
	}
	known := false
	for _, t := range sshKeyTypes {
		known = known || f[0] == t
	}
	if !known {
		return "key type " + quote(f[0]) + " is not an SSH public key type", "ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256 ... (options before the type are not supported)"
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	// The blob starts with the type again, as a length-prefixed string.
	if err != nil || len(blob) < 4+len(f[0]) || string(blob[4:4+len(f[0])]) != f[0] {
		return "the key's base64 part is damaged or is not a " + f[0] + " key", "copy the whole line again from the .pub file"
	}
	return "", ""
}
