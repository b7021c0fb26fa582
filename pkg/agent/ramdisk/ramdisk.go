// Package ramdisk builds the agent ramdisk: an initramfs with Debian's kernel modules,
// static busybox and node-agent (with the libraries ldd lists), whose init brings the
// NICs up with DHCP, reads the agent API, node, one-time bootstrap secret and CA pin from
// the kernel command line, runs the agent once (which exchanges the bootstrap for the
// node's client certificate, kept in IdentityDir) and reports the node's hardware and check results before any
// OS is installed. It is built with pkg/initramfs.
package ramdisk

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/racklift/racklift/pkg/initramfs"
)

// Modules every agent ramdisk carries (virtual machines and common servers); the build
// fails if the kernel lacks one (as a module or built in).
var Modules = []string{"virtio_pci", "virtio_net", "virtio_blk", "virtio_scsi", "nvme", "ahci", "sd_mod", "ext4", "8021q"}

// OptionalModules are taken when the kernel has them: crc32c, which ext4 loads by name
// (no modules.dep entry), and NIC drivers for real servers.
var OptionalModules = []string{"crc32c_generic", "e1000", "e1000e", "igb", "ixgbe", "i40e", "ice", "bnxt_en", "tg3", "mlx5_core"}

// Kernel command line parameters the init script reads (the same names the boot
// scripts and pkg/pki hand out).
const (
	ArgAPI       = "racklift.api"       // base URL of the agent API (https with racklift.ca)
	ArgServer    = "racklift.server"    // base URL, when racklift.api is absent
	ArgNode      = "racklift.node"      // inventory name; default: the first NIC's MAC
	ArgBootstrap = "racklift.bootstrap" // the node's one-time bootstrap secret
	ArgCA        = "racklift.ca"        // sha256:<hex> pin of serve's CA
	ArgAfter     = "racklift.after"     // wait (default), poweroff or reboot once reported
	// ArgMount mounts disks before the checks, DEV:DIR[,DEV:DIR...] (e.g. /dev/vda:/scratch),
	// so a profile's storage mounts can be measured before any OS is installed.
	ArgMount = "racklift.mount"
)

// IdentityDir is where the ramdisk agent keeps the node's identity (identity.LoadBundle):
// whatever installs the OS from the ramdisk writes it onto the installed system.
const IdentityDir = "/run/racklift/identity"

// Init is the ramdisk's /init, after initramfs.Preamble (mounts, loopback, modules). The
// bootstrap goes to a 0600 file on tmpfs, never to the console; the agent exchanges it
// (once) for the node's certificate and removes it.
const Init = `
mkdir -p /run/racklift /etc
chmod 700 /run/racklift
chmod 755 /etc/racklift/udhcpc.sh # the builder writes contents 0644
API= SERVER= NODE= BOOTSTRAP= CA= AFTER=wait MOUNTS=
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    racklift.api=*) API="${arg#racklift.api=}" ;;
    racklift.server=*) SERVER="${arg#racklift.server=}" ;;
    racklift.node=*) NODE="${arg#racklift.node=}" ;;
    racklift.bootstrap=*) BOOTSTRAP="${arg#racklift.bootstrap=}" ;;
    racklift.ca=*) CA="${arg#racklift.ca=}" ;;
    racklift.after=*) AFTER="${arg#racklift.after=}" ;;
    racklift.mount=*) MOUNTS="${arg#racklift.mount=}" ;;
  esac
done
URL="${API:-$SERVER}"
umask 077
printf '%s\n' "$BOOTSTRAP" > /run/racklift/bootstrap
BOOTSTRAP=
umask 022
hostname racklift-agent

# Every NIC with a device: up, then DHCP until one gets a lease.
nics=
for d in /sys/class/net/*; do
  n=${d##*/}
  [ -e "$d/device" ] || continue
  ip link set "$n" up
  nics="$nics $n"
done
echo "racklift-agent: NICs:$nics"
leased=
for try in 1 2 3; do
  for n in $nics; do
    if udhcpc -i "$n" -n -q -t 4 -T 2 -s /etc/racklift/udhcpc.sh >/dev/null 2>&1; then
      leased=$n; break 2
    fi
  done
done
if [ -n "$leased" ]; then
  echo "racklift-agent: DHCP lease on $leased: $(ip -4 -o addr show dev "$leased" | awk '{print $4}')"
else
  echo "racklift-agent: no DHCP lease on any NIC:$nics (is the provisioning VLAN untagged on the switch port?)"
fi

for m in $(echo "$MOUNTS" | tr ',' ' '); do
  dev="${m%%:*}" dir="${m#*:}"
  mkdir -p "$dir"
  if mount "$dev" "$dir" 2>/tmp/mount.err; then
    echo "racklift-agent: mounted $dev on $dir"
  else
    echo "racklift-agent: cannot mount $dev on $dir: $(cat /tmp/mount.err)"
  fi
done

set --
[ -n "$NODE" ] && set -- --node "$NODE"
[ -n "$CA" ] && set -- "$@" --ca-fingerprint "$CA"
if [ -z "$URL" ]; then
  echo "racklift-agent: no racklift.api= or racklift.server= on the kernel command line: checking locally only"
  node-agent check --expect /etc/racklift/none.yaml --hardware -o json
else
  echo "racklift-agent: reporting to $URL"
  node-agent daemon --once --stage ramdisk --server "$URL" --bootstrap-file /run/racklift/bootstrap \
    --identity-dir /run/racklift/identity \
    --spool /run/racklift/spool --metrics-addr "" --deliver-timeout 10m --apply-networks "$@"
  rc=$?
  if [ $rc -eq 0 ]; then echo "racklift-agent: report delivered"; else echo "racklift-agent: report not delivered (exit $rc)"; fi
fi
case "$AFTER" in
  poweroff) poweroff -f ;;
  reboot) reboot -f ;;
esac
echo "racklift-agent: done; waiting for the server to power-cycle the node"
while :; do sleep 3600; done
`

// UdhcpcScript configures the lease busybox udhcpc got.
const UdhcpcScript = `#!/bin/sh
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
    if [ -n "$router" ]; then
      for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
    fi
    : > /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    ;;
esac
exit 0
`

// Programs are host programs the deploy runs, copied in with their libraries: e2fsck
// and resize2fs (e2fsprogs) grow the installed root filesystem. efibootmgr is taken
// when the host has it (OptionalPrograms): without it the deploy leaves the UEFI
// removable path, which boots without an entry.
var (
	Programs         = []string{"e2fsck", "resize2fs"}
	OptionalPrograms = []string{"efibootmgr"}
)

// programs finds Programs (failing on a missing one) and OptionalPrograms on the host.
func programs() ([]initramfs.File, error) {
	var out []initramfs.File
	find := func(name string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if p := filepath.Join(dir, name); fileExists(p) {
				return p
			}
		}
		return ""
	}
	for _, n := range Programs {
		p := find(n)
		if p == "" {
			return nil, fmt.Errorf("agent ramdisk: %s not found on this host (apt-get install e2fsprogs): the deploy grows the root filesystem with it", n)
		}
		out = append(out, initramfs.File{Host: p, Guest: "/sbin/" + n})
	}
	for _, n := range OptionalPrograms {
		if p := find(n); p != "" {
			out = append(out, initramfs.File{Host: p, Guest: "/sbin/" + n})
		}
	}
	return out, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Build writes the ramdisk to out for kernel k with the node-agent binary agentBin.
func Build(k *initramfs.Kernel, agentBin, out string) error {
	mods, err := pickModules(k)
	if err != nil {
		return err
	}
	progs, err := programs()
	if err != nil {
		return err
	}
	ir := initramfs.Initramfs{
		Kernel:   k,
		Modules:  mods,
		Init:     Init,
		Binaries: append([]initramfs.File{{Host: agentBin, Guest: "/bin/node-agent"}}, progs...),
		Contents: map[string][]byte{
			"/etc/racklift/udhcpc.sh": []byte(UdhcpcScript),
			"/etc/racklift/none.yaml": []byte("node: \"\"\n"),
		},
	}
	return ir.Build(out)
}

// pickModules keeps the optional modules this kernel has and fails on a missing
// required one.
func pickModules(k *initramfs.Kernel) ([]string, error) {
	have := map[string]bool{}
	for _, f := range []string{"modules.dep", "modules.builtin"} {
		b, err := os.ReadFile(filepath.Join(k.Modules, f))
		if err != nil && f == "modules.dep" {
			return nil, fmt.Errorf("agent ramdisk: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			mod, _, _ := strings.Cut(line, ":")
			base := filepath.Base(mod)
			for _, ext := range []string{".xz", ".zst", ".gz"} {
				base = strings.TrimSuffix(base, ext)
			}
			have[strings.ReplaceAll(strings.TrimSuffix(base, ".ko"), "-", "_")] = true
		}
	}
	var out []string
	for _, m := range Modules {
		if !have[m] {
			return nil, fmt.Errorf("agent ramdisk: kernel %s has no %s module", k.Version, m)
		}
		out = append(out, m)
	}
	for _, m := range OptionalModules {
		if have[m] {
			out = append(out, m)
		}
	}
	return out, nil
}
