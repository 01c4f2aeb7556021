package keeper

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// becomeSubreaper: macOS has no child subreaper; descendants are found by
// walking the process table while their parents live.
func becomeSubreaper() {}

// serverAttr: a group of its own (macOS has no parent-death signal; the
// keeper kills its servers when the daemon's socket closes).
func serverAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// childrenFunc takes one snapshot of the process table and returns a
// lookup of a process's children in it.
func childrenFunc() func(int) []int {
	procs, err := unix.SysctlKinfoProcSlice("kern.proc.all")
	byParent := map[int][]int{}
	if err == nil {
		for i := range procs {
			p := &procs[i]
			byParent[int(p.Eproc.Ppid)] = append(byParent[int(p.Eproc.Ppid)], int(p.Proc.P_pid))
		}
	}
	return func(pid int) []int { return byParent[pid] }
}

// tagOf: no orphan is reparented to the keeper on macOS.
func tagOf(int) string { return "" }
