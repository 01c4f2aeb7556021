package keeper

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// becomeSubreaper makes orphaned descendants the keeper's children rather
// than init's.
func becomeSubreaper() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }

// serverAttr: a group of its own, and death with the keeper even if the
// keeper is killed.
func serverAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// childrenFunc returns a lookup of a process's children from /proc (each
// thread lists the children it forked).
func childrenFunc() func(int) []int {
	return func(pid int) []int {
		dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
		tasks, _ := os.ReadDir(dir)
		var out []int
		for _, t := range tasks {
			b, err := os.ReadFile(filepath.Join(dir, t.Name(), "children"))
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
				}
			}
		}
		return out
	}
}

// tagOf returns the keeper tag in pid's environment, or "".
func tagOf(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		return ""
	}
	for kv := range bytes.SplitSeq(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte(tagVar+"=")); ok {
			return string(v)
		}
	}
	return ""
}
