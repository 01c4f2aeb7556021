//go:build unix && !linux

package upstream

import "syscall"

// childAttr puts a stdio server in its own process group, so that stopping
// it reaches everything it started. There is no parent-death signal outside
// Linux: a kill -9 of mcpproxy leaves the group running.
func childAttr(syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
