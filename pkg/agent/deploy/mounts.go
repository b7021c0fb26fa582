package deploy

import (
	"fmt"
	"os"
	"path"
	"strings"
)

// Mount is a data mount of the node: a device mounted on a directory. The ramdisk mounts
// the profile's (racklift.mount=DEV:DIR on its command line) for its checks; the
// installed system gets the same mounts as systemd mount units, so the storage checks the
// profile expects pass on the installed system too.
type Mount struct{ Device, Dir string }

// ParseMounts reads racklift.mount=DEV:DIR[,DEV:DIR...] from a kernel command line.
func ParseMounts(cmdline string) []Mount {
	var ms []Mount
	for _, arg := range strings.Fields(cmdline) {
		v, ok := strings.CutPrefix(arg, "racklift.mount=")
		if !ok {
			continue
		}
		for _, m := range strings.Split(v, ",") {
			dev, dir, ok := strings.Cut(m, ":")
			if ok && strings.HasPrefix(dev, "/dev/") && path.IsAbs(dir) && path.Clean(dir) != "/" {
				ms = append(ms, Mount{Device: dev, Dir: path.Clean(dir)})
			}
		}
	}
	return ms
}

// MountFiles are the installed system's units for ms: one NAME.mount per mount (the
// filesystem by UUID when uuidOf finds one, since disk names can change between boots of
// the installed system; else the device), and a drop-in making local-fs.target want them.
// nofail: a missing data disk must not stop the node from booting and reporting it.
func MountFiles(ms []Mount, uuidOf func(dev string) string) ([]File, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	var files []File
	var wants []string
	for _, m := range ms {
		unit, err := mountUnitName(m.Dir)
		if err != nil {
			return nil, err
		}
		what := m.Device
		if u := uuidOf(m.Device); u != "" {
			what = "UUID=" + u
		}
		files = append(files, File{Path: "/etc/systemd/system/" + unit, Mode: 0o644, Data: fmt.Appendf(nil,
			"# Written by racklift at deploy: the node's data mount (racklift.mount=%s:%s).\n[Unit]\nDescription=racklift data mount %s\n\n[Mount]\nWhat=%s\nWhere=%s\nOptions=nofail\n",
			m.Device, m.Dir, m.Dir, what, m.Dir)})
		wants = append(wants, unit)
	}
	files = append(files, File{Path: "/etc/systemd/system/local-fs.target.d/racklift-mounts.conf", Mode: 0o644,
		Data: []byte("# Written by racklift at deploy.\n[Unit]\nWants=" + strings.Join(wants, " ") + "\n")})
	return files, nil
}

// mountUnitName is systemd's name for a mount on dir (systemd-escape --path --suffix=mount).
func mountUnitName(dir string) (string, error) {
	p := strings.Trim(path.Clean(dir), "/")
	if p == "" || !path.IsAbs(dir) {
		return "", fmt.Errorf("mount directory %q: not an absolute directory other than /", dir)
	}
	var b strings.Builder
	for i, c := range []byte(p) {
		switch {
		case c == '/':
			b.WriteByte('-')
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == ':', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String() + ".mount", nil
}

// FilesystemUUID reads the UUID of an ext2/3/4 or XFS filesystem from its superblock,
// or "" (another filesystem, or unreadable).
func FilesystemUUID(dev string) string {
	f, err := os.Open(dev)
	if err != nil {
		return ""
	}
	defer f.Close()
	sb := make([]byte, 2048)
	if n, _ := f.ReadAt(sb, 0); n < len(sb) {
		return ""
	}
	var u []byte
	switch SignatureOf(sb) {
	case "an ext2/3/4 filesystem":
		u = sb[1024+0x68 : 1024+0x78]
	case "an XFS filesystem":
		u = sb[32:48]
	default:
		return ""
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
