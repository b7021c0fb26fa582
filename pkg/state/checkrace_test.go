package state

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
)

// TestCheckWhileWriting: backups (WriteBackup, which checks the file first) run while
// serve writes. bbolt's consistency check reads the database's shared freelist, not its
// transaction's snapshot, so it must not overlap a commit. Regression (make flake,
// issue 20): -race reported the overlap in pkg/server; here -race reports it, and a
// check that met a commit half-way could call the healthy file damaged.
func TestCheckWhileWriting(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	t.Cleanup(func() { s.Close() })
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Events with bodies make commits allocate and free pages.
				_, err := s.Update(fmt.Sprintf("node-%d-%d", w, i%20), func(n *Node) ([]Event, error) {
					n.Reason = strings.Repeat("x", 100+i%3000)
					return []Event{{Kind: "test.write", Detail: n.Reason}}, nil
				})
				if err != nil {
					t.Errorf("update: %v", err)
					return
				}
			}
		}()
	}
	for range 30 {
		if _, err := s.WriteBackup(io.Discard); err != nil {
			t.Errorf("backup while writing: %v", err)
			break
		}
		if err := s.Check(); err != nil {
			t.Errorf("check while writing: %v", err)
			break
		}
	}
	close(stop)
	wg.Wait()
}
