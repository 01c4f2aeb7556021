package main

import "syscall"

// dieWithParent makes a child mcpbench starts die when mcpbench does, even
// on kill -9, so a run cut short leaves no daemon or client behind.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
