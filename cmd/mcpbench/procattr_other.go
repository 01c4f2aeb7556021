//go:build !linux

package main

import "syscall"

// dieWithParent has no parent-death signal to ask for outside Linux: there
// mcpbench stops its children itself when it ends normally.
func dieWithParent() *syscall.SysProcAttr { return nil }
