package httpboot

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/racklift/racklift/pkg/atomicfile"
)

// InstalledFile is where FileState keeps the installed flags, under serve's --state-dir.
const InstalledFile = "installed.json"

// FileState is a small InstallState saved as JSON (dir "" keeps it in memory), until the
// lifecycle state store takes this over.
type FileState struct {
	path string
	mu   sync.Mutex
	m    map[string]bool
}

// OpenFileState loads dir/installed.json if present.
func OpenFileState(dir string) (*FileState, error) {
	s := &FileState{m: map[string]bool{}}
	if dir == "" {
		return s, nil
	}
	s.path = filepath.Join(dir, InstalledFile)
	b, err := os.ReadFile(s.path)
	if os.IsNotExist(err) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &s.m); err != nil {
		return nil, fmt.Errorf("%s: %w (delete it to forget which nodes are installed)", s.path, err)
	}
	return s, nil
}

// Installed reports whether node is installed.
func (s *FileState) Installed(node string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[node]
}

// SetInstalled records the flag and saves it.
func (s *FileState) SetInstalled(node string, v bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v {
		s.m[node] = true
	} else {
		delete(s.m, node)
	}
	if s.path == "" {
		return nil
	}
	b, _ := json.MarshalIndent(s.m, "", "  ")
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(s.path, append(b, '\n'), 0o600)
}
