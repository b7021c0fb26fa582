package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/inventory"
)

// debounce lets an editor's write-rename-chmod settle into one reload.
const debounce = 300 * time.Millisecond

// watch reloads the inventory when a file under it changes. Directories are watched,
// not files, since editors replace files by renaming.
func (s *Server) watch(ctx context.Context) (*fsnotify.Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	root := s.cfg.Inventory
	dirs := []string{root}
	if fi, err := os.Stat(root); err == nil && !fi.IsDir() {
		dirs = []string{filepath.Dir(root)}
	} else {
		dirs = append(dirs, filepath.Join(root, inventory.RacksDir))
	}
	for _, d := range dirs {
		if err := w.Add(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.Close()
			return nil, err
		}
	}
	go func() {
		var timer <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ev.Has(fsnotify.Create) && filepath.Base(ev.Name) == inventory.RacksDir {
					w.Add(ev.Name)
				}
				if !relevant(ev.Name) {
					continue
				}
				timer = time.After(debounce)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				s.log.Warn("inventory watch", "error", err)
			case <-timer:
				timer = nil
				s.Reload()
			}
		}
	}()
	return w, nil
}

// relevant: YAML files, not editor swap or backup files.
func relevant(name string) bool {
	base := filepath.Base(name)
	if base == "" || base[0] == '.' || base[len(base)-1] == '~' {
		return false
	}
	ext := filepath.Ext(base)
	return ext == ".yaml" || ext == ".yml" || base == inventory.RacksDir
}

// Reload loads the inventory again and puts it in force; a defective inventory is
// rejected, each located error logged, and the last good one stays.
func (s *Server) Reload() error {
	snap, err := s.load()
	if err != nil {
		s.reloads.WithLabelValues("rejected").Inc()
		var ie inventory.Errors
		if errors.As(err, &ie) {
			for _, e := range ie {
				s.log.Error("inventory error", "at", e.Pos.String(), "error", e.Msg, "hint", e.Hint)
			}
		}
		s.log.Error("inventory reload rejected: the last good inventory stays in force", "inventory", s.cfg.Inventory, "error", err)
		s.Events.Publish(events.Event{Kind: events.Reload, Detail: s.cfg.Inventory, Err: err.Error()})
		return err
	}
	if s.core != nil {
		if err := s.core.SetInventory(snap.inv); err != nil {
			s.log.Error("inventory reload: provisioning state", "error", err)
		}
	}
	old := s.cur.Swap(snap)
	s.reloads.WithLabelValues("applied").Inc()
	s.nodes.Set(float64(len(snap.plan.Nodes)))
	s.log.Info("inventory reloaded", "inventory", s.cfg.Inventory, "nodes", len(snap.plan.Nodes), "before", len(old.plan.Nodes))
	s.Events.Publish(events.Event{Kind: events.Reload, Detail: s.cfg.Inventory})
	return nil
}
