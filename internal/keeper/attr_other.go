//go:build unix && !linux

package keeper

import "syscall"

// directAttr: a group of its own. There is no parent-death signal outside
// Linux.
func directAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
