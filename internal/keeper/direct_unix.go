//go:build unix

package keeper

import (
	"os/exec"
	"syscall"
)

// osProc: nothing beyond the process group on Unix.
type osProc struct{}

func (*osProc) contain(int) {}
func (*osProc) release()    {}

func (p *directProc) terminateGroup() { syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM) }
func (p *directProc) killGroup()      { syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) }
func (p *directProc) killLeftovers()  { p.killGroup() }

func statusError(ee *exec.ExitError) error {
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
		return exitError(ws)
	}
	return ee
}

// exitError describes a wait status the way os.ProcessState does.
func exitError(ws syscall.WaitStatus) error {
	switch {
	case ws.Exited() && ws.ExitStatus() == 0:
		return nil
	case ws.Signaled():
		return &ExitError{Code: -1, Signal: ws.Signal()}
	}
	return &ExitError{Code: ws.ExitStatus()}
}
