//go:build unix

package testupstream

import "syscall"

// newSession makes a child leave its parent's group and session, as a
// daemonizing grandchild does.
func newSession() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
