package state

import (
	"os"
	"path/filepath"
)

// DirEnv overrides the default state directory.
const DirEnv = "RACKLIFT_STATE_DIR"

// SystemDir is the state directory when running as root.
const SystemDir = "/var/lib/racklift"

// DefaultDir is $RACKLIFT_STATE_DIR, else /var/lib/racklift for root, else
// $XDG_STATE_HOME/racklift (~/.local/state/racklift), so serve and the CLI agree without flags.
func DefaultDir() string {
	if d := os.Getenv(DirEnv); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return SystemDir
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "racklift")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "racklift")
	}
	return SystemDir
}
