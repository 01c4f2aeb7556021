// Package keeper starts stdio servers so that none of them, and nothing
// they start, outlives mcpproxy, even when mcpproxy is killed with SIGKILL.
//
// On Unix one keeper process per daemon (the mcpproxy binary re-executed
// with Arg) is the parent of every stdio server. The daemon sends it each
// command with the three pipe ends over a Unix socket; the keeper starts
// the server in a process group of its own and reports its pid and, later,
// how it ended. When the daemon's end of the socket closes, whatever the
// cause, the keeper kills every server, everything below them, and exits.
// On Linux the keeper is also a child subreaper, so a descendant that left
// its server's group (setsid) and outlived its own parent is reparented to
// the keeper and still found; a server gets a parent-death signal from the
// keeper as well. On macOS the keeper finds descendants by walking the
// process table (sysctl), which reaches those whose parents still live.
//
// On Windows there is no keeper: each server is put in a Job Object that
// kills its processes when its last handle closes, which the system does
// when the daemon dies.
//
// Direct starts servers as the daemon's own children, with a group of their
// own and, on Linux, a parent-death signal: descendants of a server can
// outlive a kill -9 then. Tests and the daemon use it where no keeper can
// run (the binary cannot be found).
//
// Spawners and Procs are safe for concurrent use.
package keeper

import (
	"os"
	"strconv"
	"syscall"
)

// Arg is the argument that makes the mcpproxy binary run Run.
const Arg = "__keeper"

// Cmd is a command to start as a stdio server.
type Cmd struct {
	Path string   // resolved executable
	Args []string // argv[1:]
	Env  []string // the whole environment
	Dir  string   // working directory; "" for the daemon's
	// The child's stdin, stdout and stderr. Spawn does not close them.
	Stdin, Stdout, Stderr *os.File
}

// Spawner starts stdio servers.
type Spawner interface {
	Spawn(c Cmd) (Proc, error)
}

// Proc is a started server: the leader of its own process group.
type Proc interface {
	// Pid is the server's process id (and its group's).
	Pid() int
	// Done is closed once the server has exited and been reaped; what it
	// left in its group has been killed by then.
	Done() <-chan struct{}
	// Err says how the server ended once Done is closed: nil for exit
	// status 0, else an error such as "exit status 1" or "signal: killed".
	Err() error
	// Terminate asks the server's group to stop (SIGTERM; nothing on
	// Windows, where closing stdin is the request).
	Terminate()
	// Kill ends the server's group and everything below the server.
	Kill()
}

// ExitError is how a server ended other than with exit status 0.
type ExitError struct {
	Code   int            // exit status, or -1 if a signal ended it
	Signal syscall.Signal // the signal, if one ended it
}

func (e *ExitError) Error() string {
	if e.Code < 0 {
		return "signal: " + e.Signal.String()
	}
	return "exit status " + strconv.Itoa(e.Code)
}
