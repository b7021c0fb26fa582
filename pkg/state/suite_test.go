package state

import (
	"context"
	"fmt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	labetcd "github.com/racklift/racklift/internal/lab/etcd"
	"github.com/racklift/racklift/internal/testenv"
)

// backend is one Store implementation the suite runs against. fresh makes an empty
// place for a state (a directory, or an etcd prefix); open opens the state there, again
// after a Close as often as the test likes.
type backend struct {
	name  string
	fresh func(t *testing.T) string
	open  func(t *testing.T, where string, o Options) (Store, error)
}

var boltBackend = backend{
	name:  "bolt",
	fresh: func(t *testing.T) string { return t.TempDir() },
	open:  func(t *testing.T, dir string, o Options) (Store, error) { return Open(dir, o) },
}

// One three-member cluster for the package's tests: each test has its own prefix.
var (
	labOnce    sync.Once
	labCluster *labetcd.Cluster
	labErr     error
	labPrefix  atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if labCluster != nil {
		labCluster.Stop()
	}
	os.Exit(code)
}

const etcdDirPattern = "racklift-state-etcd-"

// sweepStaleEtcdDirs removes the shared clusters' directories whose owning test binary
// is gone (its members died with it: the rig starts them with Pdeathsig).
func sweepStaleEtcdDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), etcdDirPattern+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && pid > 0 && syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
}

// sharedEtcd is the package's etcd cluster, started on first use.
func sharedEtcd(t *testing.T) *labetcd.Cluster {
	t.Helper()
	testenv.Slow(t)
	bin := testenv.NeedCommand(t, labetcd.Binary)
	labOnce.Do(func() {
		sweepStaleEtcdDirs()
		dir, err := os.MkdirTemp("", etcdDirPattern)
		if err != nil {
			labErr = err
			return
		}
		// The owner file lets a later run remove the directory if this binary is
		// killed before TestMain stops the cluster (a test timeout, make mutate's).
		if labErr = os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o600); labErr != nil {
			os.RemoveAll(dir)
			return
		}
		labCluster, labErr = labetcd.StartCluster(bin[0], dir, 3)
		if labErr != nil {
			os.RemoveAll(dir)
		}
	})
	if labErr != nil {
		t.Fatal(labErr)
	}
	return labCluster
}

var etcdBackend = backend{
	name: "etcd",
	fresh: func(t *testing.T) string {
		sharedEtcd(t)
		name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
		return fmt.Sprintf("/test/%s-%d/", name, labPrefix.Add(1))
	},
	open: func(t *testing.T, prefix string, o Options) (Store, error) {
		return OpenEtcd(EtcdConfig{Endpoints: sharedEtcd(t).Endpoints(), Prefix: prefix}, o)
	},
}

// eachBackend runs test against every backend as subtests named after them.
func eachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range []backend{boltBackend, etcdBackend} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			test(t, b)
		})
	}
}

// openB opens the state at where or fails the test.
func (b backend) openB(t *testing.T, where string) Store {
	t.Helper()
	s, err := b.open(t, where, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// etcdPrefixBytes is the size of the keys and values under prefix in the shared cluster.
func etcdPrefixBytes(t *testing.T, prefix string) int64 {
	t.Helper()
	cli, err := sharedEtcd(t).Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, kv := range resp.Kvs {
		n += int64(len(kv.Key) + len(kv.Value))
	}
	return n
}
