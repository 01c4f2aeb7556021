//go:build unix

package upstream

import "syscall"

// terminateGroup asks every process of a stdio server's group to stop.
func terminateGroup(pgid int) { syscall.Kill(-pgid, syscall.SIGTERM) }

// killGroup ends every process of a stdio server's group.
func killGroup(pgid int) { syscall.Kill(-pgid, syscall.SIGKILL) }

// signalKeeper tells a server's keeper (shim) to end everything below it.
func signalKeeper(pid int) { syscall.Kill(pid, shimDeathSignal) }

// killLeftovers ends what a stdio server left in its group after it exited
// (the group's id cannot be reused while any member lives).
func killLeftovers(pgid int) { killGroup(pgid) }
