package upstream

import "syscall"

// childAttr puts a stdio server in its own process group (so that stopping
// it reaches everything it started) with a parent-death signal, so that it
// dies with mcpproxy even on kill -9.
func childAttr(death syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: death}
}
