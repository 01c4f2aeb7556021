//go:build unix && !linux && !darwin

package keeper

import "syscall"

// On other Unix systems the keeper ends each server's process group;
// descendants that left it are not traced.
func becomeSubreaper()                 {}
func serverAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
func childrenFunc() func(int) []int    { return func(int) []int { return nil } }
func tagOf(int) string                 { return "" }
