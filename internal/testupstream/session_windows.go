package testupstream

import "syscall"

// newSession: a process group of its own, the nearest Windows has.
func newSession() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}
