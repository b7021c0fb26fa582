package state

import "os"

// DirEnv overrides the default state directory.
const DirEnv = "RACKLIFT_STATE_DIR"

// DefaultDirName is the default state directory, relative to where serve and the CLI
// run (the same default as `provision serve --state-dir`), so both agree without flags
// when run from the same directory. Set RACKLIFT_STATE_DIR (e.g. /var/lib/racklift) to
// use one place from anywhere.
const DefaultDirName = ".state"

// DefaultDir is $RACKLIFT_STATE_DIR, else DefaultDirName.
func DefaultDir() string {
	if d := os.Getenv(DirEnv); d != "" {
		return d
	}
	return DefaultDirName
}
