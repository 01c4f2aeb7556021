// Command mcpproxy is one MCP endpoint in front of many MCP servers.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/mcpproxy/mcpproxy/internal/keeper"
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
	if len(os.Args) > 1 && os.Args[1] == keeper.Arg {
		os.Exit(keeper.Run())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
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

// run executes one command line. Errors cobra reports before a command's
// own code runs (unknown command or flag, wrong number of arguments) come
// back as usage errors, exit status 2.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a := &app{}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return nil
	}
	var ee *exitError
	if !a.started && !errors.As(err, &ee) {
		return &exitError{2, fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())}
	}
	return a.explain(err)
}

func (a *app) rootCmd() *cobra.Command {
	root := group(&cobra.Command{
		Use:   "mcpproxy",
		Short: "One MCP endpoint in front of many MCP servers",
		Long: `mcpproxy keeps a live connection to every configured upstream MCP server
(stdio, streamable HTTP, SSE) and serves them through one endpoint, with a
REST API and a live event stream for managing them.

"mcpproxy serve" runs the daemon; the other commands talk to the running
daemon over its REST API. They find it through the config file (-c): the
daemon.json a running daemon writes in its data directory, else "listen",
and "api_key" (MCPPROXY_LISTEN, MCPPROXY_API_KEY and MCPPROXY_DATA_DIR
override the file; --url and --api-key override everything).

Exit status: 0 success, 1 failure (including "no daemon is running"),
2 usage error.`,
		Example: `  mcpproxy serve
  mcpproxy status
  mcpproxy servers add everything --command npx -- -y @modelcontextprotocol/server-everything
  mcpproxy tools search "read a file"
  mcpproxy import --from claude-desktop`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	})
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if a.output != "table" && a.output != "json" {
			return usageError("-o/--output: want table or json, got %q", a.output)
		}
		a.started = true
		a.stderr = cmd.ErrOrStderr()
		return nil
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError("%v (see %s --help)", err, cmd.CommandPath())
	})
	pf := root.PersistentFlags()
	pf.StringVarP(&a.configPath, "config", "c", "", "config file (default ~/.mcpproxy/mcp_config.json)")
	pf.StringVar(&a.url, "url", "", "daemon URL, such as http://127.0.0.1:8080 (default: found through the config)")
	pf.StringVar(&a.apiKey, "api-key", "", "API key (default: the config's api_key or MCPPROXY_API_KEY)")
	pf.StringVar(&a.dataDir, "data-dir", "", "data directory of the daemon to reach, as given to serve -d (default: the config's data_dir)")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	root.AddCommand(
		newServeCmd(),
		a.versionCmd(),
		a.connectCmd(),
		a.statusCmd(),
		a.serversCmd(),
		a.toolsCmd(),
		a.quarantineCmd(),
		a.activityCmd(),
		a.tokenCmd(),
		a.authCmd(),
		a.importCmd(),
		a.upstreamCmd(),
		a.serviceCmd(),
	)
	return root
}

// versionCmd prints this binary's version; it needs no daemon.
func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print mcpproxy's version, Go version and platform",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := struct {
				Version string `json:"version"`
				Go      string `json:"go"`
				OS      string `json:"os"`
				Arch    string `json:"arch"`
			}{version, runtime.Version(), runtime.GOOS, runtime.GOARCH}
			if a.json() {
				return printJSON(cmd.OutOrStdout(), v)
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "mcpproxy %s (%s, %s/%s)\n", v.Version, v.Go, v.OS, v.Arch)
			return err
		},
	}
}
