package upstream

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ShimSupported: the keeper needs Linux's child subreaper and
// parent-death signal.
const ShimSupported = true

// shimDeathSignal is the parent-death signal the shim catches.
const shimDeathSignal = syscall.SIGUSR2

// RunShim runs a stdio server as the shim's child and returns the exit code
// for the shim's process. The shim leads the server's process group (its
// parent started it with Setpgid) and is a child subreaper, so every
// descendant of the server stays its own. It ends them all when the server
// exits and when mcpproxy dies (its parent-death signal), even on kill -9.
// args is ["--", path, arg…].
func RunShim(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "mcpproxy shim: no command")
		return 2
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, shimDeathSignal, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	// Orphaned descendants are reparented to us.
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	// The death signal may have fired before Notify was installed.
	if want := os.Getenv(envShimParent); want != "" && strconv.Itoa(os.Getppid()) != want {
		return 1
	}
	os.Unsetenv(envShimParent)

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		return 127
	}
	// The server holds the pipes now; dropping ours lets mcpproxy see EOF
	// as soon as the server's side closes.
	os.Stdin.Close()
	os.Stdout.Close()
	os.Stderr.Close()

	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	for {
		select {
		case sig := <-sigs:
			if sig == shimDeathSignal {
				killDescendants()
				return 1
			}
			// SIGTERM and friends come from mcpproxy's stop, sent to the
			// whole group: the server has them too. Wait for it to exit.
		case <-done:
			killDescendants()
			st := cmd.ProcessState
			if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return st.ExitCode()
		}
	}
}

// killDescendants SIGKILLs every other member of the shim's process group
// and every process reparented to it, and reaps them. It repeats until a
// pass finds nothing: killing a process that left the group (setsid)
// reparents its own children to the shim, and the next pass gets them.
func killDescendants() {
	self := os.Getpid()
	pgid := syscall.Getpgrp()
	for range 50 {
		found := false
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == self {
				continue
			}
			ppid, pg, ok := procParent(pid)
			if ok && (ppid == self || pg == pgid) {
				syscall.Kill(pid, syscall.SIGKILL)
				found = true
			}
		}
		// Reap the killed (blocking on each, so reparenting has happened
		// before the next pass looks).
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
		if !found {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// procParent reads a process's parent and process group from /proc.
func procParent(pid int) (ppid, pgid int, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	// The command name is in parentheses and may contain spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return 0, 0, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgid, err2 := strconv.Atoi(f[2])
	return ppid, pgid, err1 == nil && err2 == nil
}
