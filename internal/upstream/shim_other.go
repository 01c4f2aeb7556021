//go:build !linux

package upstream

import (
	"fmt"
	"os"
	"syscall"
)

// ShimSupported: outside Linux there is no keeper yet (it needs a child
// subreaper and a parent-death signal); a stdio server's descendants are
// ended through its process group when mcpproxy stops it.
const ShimSupported = false

// shimDeathSignal is never sent outside Linux (no shim runs); it exists so
// that the stop path compiles everywhere.
const shimDeathSignal = syscall.SIGTERM

// RunShim refuses to run: see ShimSupported.
func RunShim(args []string) int {
	fmt.Fprintln(os.Stderr, "mcpproxy shim: not supported on this operating system")
	return 2
}
