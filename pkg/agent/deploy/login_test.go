package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/expect"
)

const loginKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAgSK9SJDQK87Nht1pymGzMPqlD4Pz3VoRDMxM/w4zOn ops@jumphost"

// TestLoginFilesMakeTheUser writes the login files into a throwaway root and runs the
// real systemd-sysusers and systemd-tmpfiles on it, as the installed system's first boot
// does: the user exists with its home, owned by it, and sshd is pointed at its keys.
func TestLoginFilesMakeTheUser(t *testing.T) {
	t.Parallel()
	testenv.NeedRoot(t) // tmpfiles chowns to the new user
	tools := testenv.NeedCommand(t, "systemd-sysusers", "systemd-tmpfiles")
	files, err := LoginFiles(&expect.Login{User: "ops", AuthorizedKeys: []string{loginKey, "ssh-rsa AAAAB3NzaC1yc2E= second"}})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, f := range append(files, File{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/bin/sh\n")},
		File{Path: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\n")}, File{Path: "/etc/shadow", Mode: 0o600, Data: []byte("root:*:1::::::\n")}) {
		p := filepath.Join(root, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{tools[0], "--root=" + root}, {tools[1], "--root=" + root, "--create", "racklift-login.conf"}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	var uid int
	found := false
	for _, l := range strings.Split(string(passwd), "\n") {
		f := strings.Split(l, ":")
		if len(f) == 7 && f[0] == "ops" {
			found = f[5] == "/home/ops" && f[6] == "/bin/bash"
			uid, _ = strconv.Atoi(f[2])
		}
	}
	if !found {
		t.Fatalf("systemd-sysusers did not create ops with /home/ops and bash:\n%s", passwd)
	}
	home, err := os.Stat(filepath.Join(root, "home/ops"))
	if err != nil {
		t.Fatal(err)
	}
	if st := home.Sys().(*syscall.Stat_t); home.Mode() != 0o750|os.ModeDir || int(st.Uid) != uid || uid == 0 {
		t.Errorf("/home/ops: %v uid %d, want 0750 owned by ops (%d)", home.Mode(), st.Uid, uid)
	}
	b, err := os.ReadFile(filepath.Join(root, "etc/racklift/authorized_keys.ops"))
	if err != nil || string(b) != loginKey+"\nssh-rsa AAAAB3NzaC1yc2E= second\n" {
		t.Fatalf("authorized_keys: %v %q", err, b)
	}
	conf, _ := os.ReadFile(filepath.Join(root, "etc/ssh/sshd_config.d/racklift-login.conf"))
	if !strings.Contains(string(conf), "\nAuthorizedKeysFile .ssh/authorized_keys /etc/racklift/authorized_keys.%u\n") {
		t.Errorf("sshd drop-in: %q", conf)
	}
	if sudo := files[len(files)-1]; sudo.Path != "/etc/sudoers.d/racklift-ops" || sudo.Mode != 0o440 || string(sudo.Data) != "ops ALL=(ALL) NOPASSWD:ALL\n" {
		t.Errorf("sudoers: %+v", sudo)
	}
}

func TestLoginFilesRefuse(t *testing.T) {
	t.Parallel()
	for _, l := range []*expect.Login{{User: "ops\nroot", AuthorizedKeys: []string{loginKey}}, {User: "ops", AuthorizedKeys: []string{loginKey + "\nssh-rsa X"}}} {
		if fs, err := LoginFiles(l); err == nil {
			t.Errorf("LoginFiles(%q) = %d files, want an error", l, len(fs))
		}
	}
	if fs, err := LoginFiles(nil); err != nil || fs != nil {
		t.Errorf("no login: %v %v", fs, err)
	}
	fs, err := LoginFiles(&expect.Login{User: "root", AuthorizedKeys: []string{loginKey}})
	if err != nil || len(fs) != 1 || fs[0].Path != "/root/.ssh/authorized_keys" || fs[0].Mode != 0o600 {
		t.Errorf("root login: %+v %v", fs, err)
	}
}
