package httpboot

import (
	"fmt"
	"strings"

	"github.com/racklift/racklift/pkg/expect"
)

// RootDiskScript is a POSIX sh function, racklift_root_disk, that an installer runs
// before it partitions (kickstart %pre, autoinstall early-commands): it picks the disk
// by the profile's root device hints as the image deploy does (pkg/agent/deploy.Choose:
// every hint given must match; removable disks only when named by serial, wwn or
// by_path; several matches are an error unless smallest, the default when no identity
// hint is given) and prints /dev/NAME, or names every disk it saw and why none was taken
// and returns 1, so the installer stops before it wipes anything. Without hints the
// installers used to take every disk (kickstart clearpart --all) or the largest
// (autoinstall), which wipes a data NVMe.
func RootDiskScript(h expect.RootDeviceHints) string {
	byIdentity := h.Serial != "" || h.WWN != "" || h.ByPath != ""
	var b strings.Builder
	fmt.Fprintf(&b, `racklift_root_disk() {
  sys=${RACKLIFT_SYS:-/sys} dev=${RACKLIFT_DEV:-/dev}
  min=%d max=%d model=%s serial=%s wwn=%s bypath=%s smallest=%d byid=%d
  hints=%s
`, h.MinSizeGiB<<30, h.MaxSizeGiB<<30, shQuote(lower(h.Model)), shQuote(lower(h.Serial)), shQuote(expect.NormWWN(h.WWN)),
		shQuote(strings.TrimPrefix(h.ByPath, "/dev/disk/by-path/")), b2i(h.TakesSmallest()), b2i(byIdentity), shQuote(h.String()))
	b.WriteString(`  best= bestsize=0 n=0 seen=
  rd() { tr -d '\n' < "$1" 2>/dev/null | sed 's/^ *//; s/ *$//' | tr 'A-Z' 'a-z'; }
  for d in "$sys"/block/*; do
    name=${d##*/}
    case $name in loop*|ram*|sr*|zram*|dm-*|md*|fd*|nbd*) continue ;; esac
    size=$(( $(cat "$d/size" 2>/dev/null || echo 0) * 512 ))
    why=
    w=$(rd "$d/device/wwid"); [ -n "$w" ] || w=$(rd "$d/wwid")
    w=$(echo "$w" | sed 's/^naa\.//; s/^eui\.//; s/^t10\.//; s/^0x//')
    if [ "$(cat "$d/ro" 2>/dev/null)" = 1 ]; then why="read-only"
    elif [ "$size" -eq 0 ]; then why="no medium"
    elif [ "$min" -gt 0 ] && [ "$size" -lt "$min" ]; then why="smaller than min_size_gib"
    elif [ "$max" -gt 0 ] && [ "$size" -gt "$max" ]; then why="larger than max_size_gib"
    elif [ -n "$model" ] && [ "$(rd "$d/device/model")" != "$model" ]; then why="model is not the hint's"
    elif [ -n "$serial" ] && [ "$(rd "$d/device/serial")" != "$serial" ]; then why="serial is not the hint's"
    elif [ -n "$wwn" ] && [ "$w" != "$wwn" ]; then why="wwn is not the hint's"
    elif [ -n "$bypath" ] && [ "$(readlink -f "$dev/disk/by-path/$bypath" 2>/dev/null)" != "$dev/$name" ]; then why="not by-path $bypath"
    elif [ "$(cat "$d/removable" 2>/dev/null)" = 1 ] && [ "$byid" = 0 ]; then why="removable"
    fi
    if [ -n "$why" ]; then seen="$seen $name ($why);"; continue; fi
    n=$((n + 1)); seen="$seen $name (matches);"
    if [ -z "$best" ] || [ "$size" -lt "$bestsize" ]; then best=$name bestsize=$size; fi
  done
  if [ -z "$best" ]; then
    echo "racklift: no disk matches the root device hints ($hints); disks seen:$seen" >&2
    return 1
  fi
  if [ "$n" -gt 1 ] && [ "$smallest" = 0 ]; then
    echo "racklift: $n disks match the root device hints ($hints):$seen add a hint, or smallest: true" >&2
    return 1
  fi
  echo "$dev/$best"
}
`)
	return b.String()
}

// shQuote quotes s for sh: single quotes, each inner one closed, escaped and reopened.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
