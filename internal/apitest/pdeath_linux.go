package apitest

import (
	"os/exec"
	"syscall"
)

// dieWithParent: a core child outlives no test binary (killed by -timeout, say).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
