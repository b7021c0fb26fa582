package state

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/racklift/racklift/pkg/atomicfile"
)

// BackupDirName is where serve keeps its rolling backups, inside the state directory.
const BackupDirName = "backups"

// Rolling backup defaults: serve writes one at start and then every DefaultBackupEvery,
// keeping the newest DefaultBackupKeep.
const (
	DefaultBackupEvery = time.Hour
	DefaultBackupKeep  = 24
)

// BackupDir is the rolling backups' directory of the state in dir.
func BackupDir(dir string) string { return filepath.Join(dir, BackupDirName) }

// Snapshotter writes a consistent copy of a state (Bolt.WriteBackup, or serve's control
// API for the CLI).
type Snapshotter interface {
	WriteBackup(w io.Writer) (int64, error)
}

// WriteBackupFile writes a snapshot from s to path (temp file, fsync, rename), then
// checks the copy opens and passes the consistency check.
func WriteBackupFile(s Snapshotter, path string) (int64, error) {
	f, err := atomicfile.New(path, 0o600)
	if err != nil {
		return 0, fmt.Errorf("backup %s: %w", path, err)
	}
	n, err := s.WriteBackup(f)
	if err != nil {
		f.Abort()
		return 0, fmt.Errorf("backup %s: %w", path, err)
	}
	if err := f.Commit(); err != nil {
		return 0, fmt.Errorf("backup %s: %w", path, err)
	}
	if err := CheckFile(path); err != nil {
		return n, fmt.Errorf("backup %s was written but does not check: %w", path, err)
	}
	return n, nil
}

// RollBackup writes backups/state-<UTC time>.db in dir and removes all but the newest keep.
func (s *Bolt) RollBackup(dir string, keep int, now time.Time) (string, error) {
	return RollBackupOf(s, dir, keep, now)
}

// Backups lists the rolling backups of the state in dir, oldest first.
func Backups(dir string) ([]string, error) {
	ents, err := os.ReadDir(BackupDir(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, "state-") && strings.HasSuffix(n, ".db") {
			out = append(out, filepath.Join(BackupDir(dir), n))
		}
	}
	slices.Sort(out) // the names sort by time
	return out, nil
}

// CheckFile verifies one state file (a backup, or state.db while serve is down): it
// must be whole, open, carry racklift's schema and pass bbolt's consistency check.
func CheckFile(path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("state %s: %w", path, err)
	}
	s, err := OpenFile(path, Options{ReadOnly: true, Check: true})
	if err != nil {
		return err
	}
	return s.Close()
}
