// Package deps pins the field dependencies in go.mod while the packages that use them are written.
package deps

import (
	_ "github.com/NVIDIA/go-nvml/pkg/nvml"
	_ "github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	_ "github.com/bmc-toolbox/bmclib/v2"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/insomniacslk/dhcp/dhcpv4/server4"
	_ "github.com/mdlayher/ethtool"
	_ "github.com/pin/tftp/v3"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "github.com/vishvananda/netlink"
	_ "go.etcd.io/bbolt"
	_ "gopkg.in/yaml.v3"
)
