package config

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/racklift/racklift/pkg/cluster"
	"github.com/racklift/racklift/pkg/state"
)

// Store backends (--store).
const (
	StoreBolt = "bolt"
	StoreEtcd = "etcd"
)

// StoreFlags say where the state lives: the bbolt file in the state directory, or an
// etcd cluster shared by several serve instances (docs/scale.md).
type StoreFlags struct {
	Store     string
	Endpoints []string
	CA        string
	Cert      string
	Key       string
	Prefix    string
	// serve only: this instance among those sharing the state.
	Instance string
	Lease    time.Duration
}

// Register adds the flags; instance adds serve's --instance and --lease.
func (f *StoreFlags) Register(fl *pflag.FlagSet, instance bool) {
	fl.StringVar(&f.Store, "store", StoreBolt, "where the state lives: bolt (state.db in --state-dir, one serve) or etcd (an etcd cluster, several serve instances)")
	fl.StringSliceVar(&f.Endpoints, "etcd-endpoints", nil, "with --store etcd: the etcd members' client URLs, e.g. https://10.0.0.1:2379,https://10.0.0.2:2379,https://10.0.0.3:2379")
	fl.StringVar(&f.CA, "etcd-ca", "", "with --store etcd: CA certificate (PEM) that signed the etcd members' certificates")
	fl.StringVar(&f.Cert, "etcd-cert", "", "with --store etcd: client certificate (PEM) when the members require one")
	fl.StringVar(&f.Key, "etcd-key", "", "with --store etcd: the client certificate's key (PEM)")
	fl.StringVar(&f.Prefix, "etcd-prefix", state.DefaultEtcdPrefix, "with --store etcd: the key prefix racklift's state lives under")
	if instance {
		host, _ := os.Hostname()
		fl.StringVar(&f.Instance, "instance", host, "with --store etcd: this serve instance's name, unique among those sharing the state (default: the host name)")
		fl.DurationVar(&f.Lease, "lease", cluster.DefaultLease, "with --store etcd: the time within which the other instances take over this one's networks and nodes once it is gone (at least 3s; its etcd lease is a second shorter)")
	}
}

// Etcd is the etcd configuration, or nil for the bbolt store; a bad combination is an
// error naming the flag.
func (f *StoreFlags) Etcd() (*state.EtcdConfig, error) {
	switch f.Store {
	case StoreBolt, "":
		if len(f.Endpoints) > 0 {
			return nil, fmt.Errorf("--etcd-endpoints is given but --store is %s: give --store etcd", StoreBolt)
		}
		return nil, nil
	case StoreEtcd:
	default:
		return nil, fmt.Errorf("--store %q: want %s or %s", f.Store, StoreBolt, StoreEtcd)
	}
	if len(f.Endpoints) == 0 {
		return nil, fmt.Errorf("--store etcd needs --etcd-endpoints (the members' client URLs)")
	}
	for _, e := range f.Endpoints {
		if !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://") {
			return nil, fmt.Errorf("--etcd-endpoints %q: want http://HOST:PORT or https://HOST:PORT", e)
		}
		if strings.HasPrefix(e, "http://") && (f.CA != "" || f.Cert != "") {
			return nil, fmt.Errorf("--etcd-endpoints %q is plain http but client TLS (--etcd-ca/--etcd-cert) is given: use https://", e)
		}
	}
	if (f.Cert == "") != (f.Key == "") {
		return nil, fmt.Errorf("--etcd-cert and --etcd-key go together")
	}
	return &state.EtcdConfig{Endpoints: f.Endpoints, CAFile: f.CA, CertFile: f.Cert, KeyFile: f.Key, Prefix: f.Prefix}, nil
}
