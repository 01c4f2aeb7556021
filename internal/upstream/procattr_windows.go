package upstream

import (
	"os/exec"
	"strconv"
	"syscall"
)

// childAttr starts a stdio server in a process group of its own. Windows
// has no parent-death signal: a kill -9 of mcpproxy leaves the server
// running (a Job Object would close that gap).
func childAttr(syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// terminateGroup has no polite form on Windows for a console-less child:
// closing its stdin, which stop does first, is the request to stop.
func terminateGroup(int) {}

// killGroup ends a stdio server and every process it started.
func killGroup(pid int) {
	exec.Command("taskkill", "/T", "/F", "/PID", strconv.Itoa(pid)).Run()
}

// signalKeeper does nothing: no keeper runs on Windows.
func signalKeeper(int) {}

// killLeftovers does nothing on Windows: once the server has exited its pid
// may name another process, and taskkill would end that one.
func killLeftovers(int) {}
