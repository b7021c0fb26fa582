#!/bin/sh
# mmdebstrap --customize-hook for the lab image's base (internal/lab/osimage): $1 is the
# new root. Everything node-specific (hostname, networks, identity) is written later by
# the deploy; node-agent and its unit are added per build on top of this base.
set -eu
root=$1

# Placeholders the deploy overwrites.
echo racklift-node >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tracklift-node\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"

# No password login: the node is reached through its agent and the serial console log.
chroot "$root" passwd --lock root >/dev/null

# Every node gets its own machine-id on first boot; no interactive first-boot prompts.
printf 'uninitialized\n' >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
systemctl --root="$root" mask systemd-firstboot.service >/dev/null 2>&1

# Networking: systemd-networkd. DHCP on every wired NIC is the image's fallback only:
# the deploy writes the node's own .network files, and lower numbers win.
mkdir -p "$root/etc/systemd/network"
cat >"$root/etc/systemd/network/99-racklift-default.network" <<'NET'
# racklift lab image default: DHCP on wired NICs the deploy did not configure.
[Match]
Name=en* eth*

[Network]
DHCP=yes
NET
systemctl --root="$root" enable systemd-networkd.service systemd-networkd-wait-online.service >/dev/null 2>&1
# node-agent wants network-online.target: a node whose links never come up must still
# finish booting (and report), so waiting is bounded and any one link is enough.
mkdir -p "$root/etc/systemd/system/systemd-networkd-wait-online.service.d"
cat >"$root/etc/systemd/system/systemd-networkd-wait-online.service.d/racklift.conf" <<'NET'
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=60
NET

# One initramfs build: base.go diverted update-initramfs while packages installed.
ver=$(basename "$(readlink "$root/vmlinuz")")
ver=${ver#vmlinuz-}
if chroot "$root" dpkg-divert --list /usr/sbin/update-initramfs | grep -q .; then
	rm -f "$root/usr/sbin/update-initramfs"
	chroot "$root" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
fi
[ -e "$root/boot/initrd.img-$ver" ] || chroot "$root" update-initramfs -c -k "$ver"
[ -e "$root/initrd.img" ] || ln -s "boot/initrd.img-$ver" "$root/initrd.img"

# The initramfs must find the root on virtio (lab), NVMe and SCSI disks: MODULES=most
# (Debian's default) includes them (or they are built in); fail the build if not.
list=$(chroot "$root" lsinitramfs "/boot/initrd.img-$ver")
for m in virtio_blk virtio_pci nvme sd_mod; do
	if ! echo "$list" | grep -q "/$m\.ko" && ! grep -q "/$m\.ko" "$root/lib/modules/$ver/modules.builtin"; then
		echo "customize: $m missing from the initramfs" >&2
		exit 1
	fi
done

# The kernel and initrd links GRUB boots (/vmlinuz, /initrd.img) must exist.
test -e "$root/vmlinuz" && test -e "$root/initrd.img"

rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin "$root/var/log/"*.log
