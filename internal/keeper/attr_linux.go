package keeper

import "syscall"

// directAttr: a group of its own, and death with the parent even on kill -9.
func directAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
