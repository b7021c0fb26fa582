package deploy

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/racklift/racklift/pkg/expect"
)

var loginUserRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// LoginFiles are the files that let the inventory's login user in on the installed
// system, written by the deploy like the rest of the node's configuration: the image
// needs no cloud-init. systemd creates the user at first boot (sysusers.d: a locked
// password, so only the keys let it in) and its home (tmpfiles.d); sshd reads the keys
// from /etc/racklift/authorized_keys.USER (an sshd_config.d drop-in adds it to
// AuthorizedKeysFile: root-owned, so no ownership to fix in the user's home); sudoers.d
// gives it passwordless sudo. For root, /root/.ssh/authorized_keys is written as is. No
// login: no files. The keys were checked when the inventory loaded; the user name is
// checked again here because it lands in configuration lines.
func LoginFiles(l *expect.Login) ([]File, error) {
	if l == nil {
		return nil, nil
	}
	if !loginUserRE.MatchString(l.User) {
		return nil, fmt.Errorf("login user %q: not a valid user name", l.User)
	}
	var keys strings.Builder
	for i, k := range l.AuthorizedKeys {
		if k = strings.TrimSpace(k); k == "" || strings.ContainsAny(k, "\r\n") {
			return nil, fmt.Errorf("login %s: authorized key %d is empty or not one line", l.User, i)
		}
		keys.WriteString(k + "\n")
	}
	if l.User == "root" {
		return []File{{Path: "/root/.ssh/authorized_keys", Mode: 0o600, Data: []byte(keys.String())}}, nil
	}
	u := l.User
	return []File{
		{Path: "/etc/racklift/authorized_keys." + u, Mode: 0o644, Data: []byte(keys.String())},
		{Path: "/etc/ssh/sshd_config.d/racklift-login.conf", Mode: 0o644, Data: []byte(
			"# racklift: the inventory's login keys, kept by root under /etc/racklift\n" +
				"AuthorizedKeysFile .ssh/authorized_keys /etc/racklift/authorized_keys.%u\n")},
		{Path: "/etc/sysusers.d/racklift-login.conf", Mode: 0o644, Data: fmt.Appendf(nil,
			"# racklift: the inventory's login user (created at first boot by systemd-sysusers)\nu %s - \"racklift login\" /home/%s /bin/bash\n", u, u)},
		{Path: "/etc/tmpfiles.d/racklift-login.conf", Mode: 0o644, Data: fmt.Appendf(nil,
			"# racklift: the login user's home\nd /home/%[1]s 0750 %[1]s %[1]s -\n", u)},
		{Path: "/etc/sudoers.d/racklift-" + u, Mode: 0o440, Data: fmt.Appendf(nil, "%s ALL=(ALL) NOPASSWD:ALL\n", u)},
	}, nil
}
