// Command mcpproxy is one MCP endpoint in front of many MCP servers.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mcpproxy/mcpproxy/internal/upstream"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// exitError carries a process exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	if len(os.Args) > 1 && os.Args[1] == upstream.ShimArg {
		os.Exit(upstream.RunShim(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mcpproxy:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "mcpproxy",
		Short: "One MCP endpoint in front of many MCP servers",
		Long: `mcpproxy keeps a live connection to every configured upstream MCP server
(stdio, streamable HTTP, SSE) and serves them through one endpoint, with a
REST API and a live event stream for managing them.`,
		Example:       "  mcpproxy serve\n  mcpproxy serve -c ./mcp_config.json -l 127.0.0.1:9090",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringP("config", "c", "", "config file (default ~/.mcpproxy/mcp_config.json)")
	root.AddCommand(newServeCmd())
	return root
}
