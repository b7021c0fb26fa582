package api

import (
	"context"

	"io"
	"path/filepath"

	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/pkg/state"
)

// SnapshotOf is src as a state.Snapshotter: serve's snapshot over the control API, or the
// file's while serve is down.
func SnapshotOf(ctx context.Context, src Source) state.Snapshotter { return snapshot{ctx, src} }

type snapshot struct {
	ctx context.Context
	src Source
}

func (s snapshot) WriteBackup(w io.Writer) (int64, error) { return s.src.Backup(s.ctx, w) }

// FileCheck is one file `provision state check` looked at.
type FileCheck struct {
	Path  string `json:"path"`
	Role  string `json:"role"` // state (live) or backup
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// StateCheck is `provision state check`'s result.
type StateCheck struct {
	Files []FileCheck `json:"files"`
}

// OK reports whether every file passed.
func (c StateCheck) OK() bool { return c.Failed() == 0 }

// Failed counts the files that did not pass.
func (c StateCheck) Failed() int {
	n := 0
	for _, f := range c.Files {
		if !f.OK {
			n++
		}
	}
	return n
}

// WriteText prints one line per file.
func (c StateCheck) WriteText(w io.Writer) error {
	rows := output.Rows{Header: []string{"FILE", "ROLE", "RESULT"}}
	for _, f := range c.Files {
		res := "ok"
		if !f.OK {
			res = f.Error
		}
		rows.Add(f.Path, f.Role, res)
	}
	return rows.Write(w)
}

// CheckState checks serve's live state (through serve when it runs: the file is locked
// then) and each rolling backup in stateDir/backups.
func CheckState(ctx context.Context, apiAddr, stateDir string) StateCheck {
	var rep StateCheck
	live := FileCheck{Path: filepath.Join(stateDir, state.FileName), Role: "state", OK: true}
	src, err := Connect(ctx, apiAddr, stateDir)
	if err == nil {
		if _, remote := src.(*Client); remote {
			live.Role = "state (checked by the running serve)"
		}
		err = src.Check(ctx)
		src.Close()
	}
	if err != nil {
		live.OK, live.Error = false, err.Error()
	}
	rep.Files = append(rep.Files, live)
	backups, err := state.Backups(stateDir)
	if err != nil {
		rep.Files = append(rep.Files, FileCheck{Path: state.BackupDir(stateDir), Role: "backup", Error: err.Error()})
	}
	for _, b := range backups {
		fc := FileCheck{Path: b, Role: "backup", OK: true}
		if err := state.CheckFile(b); err != nil {
			fc.OK, fc.Error = false, err.Error()
		}
		rep.Files = append(rep.Files, fc)
	}
	return rep
}
