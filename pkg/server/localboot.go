package server

import (
	"github.com/racklift/racklift/pkg/httpboot"
	"github.com/racklift/racklift/pkg/provisioner"
)

// installState is what httpboot asks before answering a node's iPXE: it boots its local
// disk when its install said so (the callback's flag) or when its disk holds the image
// the lifecycle deployed and verified (provisioner.Core.BootsLocal).
type installState struct {
	file *httpboot.FileState
	core *provisioner.Core
}

func (s installState) Installed(node string) bool {
	return s.file.Installed(node) || s.core != nil && s.core.BootsLocal(node)
}

func (s installState) SetInstalled(node string, v bool) error { return s.file.SetInstalled(node, v) }
