package state

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// RollBackupOf is Bolt.RollBackup for any store (an etcd state's backups are bbolt files
// too): backups/state-<UTC time>.db in dir, all but the newest keep removed.
func RollBackupOf(s Snapshotter, dir string, keep int, now time.Time) (string, error) {
	bdir := BackupDir(dir)
	if err := os.MkdirAll(bdir, 0o700); err != nil {
		return "", fmt.Errorf("state backups: %w", err)
	}
	path := filepath.Join(bdir, "state-"+now.UTC().Format("20060102T150405Z")+".db")
	if _, err := WriteBackupFile(s, path); err != nil {
		return "", err
	}
	old, err := Backups(dir)
	if err != nil {
		return path, err
	}
	for len(old) > max(keep, 1) {
		if err := os.Remove(old[0]); err != nil {
			return path, fmt.Errorf("state backups: %w", err)
		}
		old = old[1:]
	}
	return path, nil
}
