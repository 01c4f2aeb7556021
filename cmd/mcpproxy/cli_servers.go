package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/client"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/spf13/cobra"
)

func (a *app) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the running daemon's status",
		Long: `Show the running daemon's version, uptime, config file, servers by state,
usable tools, and what waits for approval.`,
		Example: "  mcpproxy status\n  mcpproxy status -o json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if a.json() {
				return printJSON(w, st)
			}
			var states []string
			for _, s := range mcpproxy.AllStates {
				if n := st.Counts[s]; n > 0 {
					states = append(states, fmt.Sprintf("%d %s", n, s))
				}
			}
			servers := strconv.Itoa(st.Servers)
			if len(states) > 0 {
				servers += " (" + strings.Join(states, ", ") + ")"
			}
			t := newTable(w)
			t.row("daemon:", c.BaseURL()+" (mcpproxy "+st.Version+")")
			t.row("uptime:", (time.Duration(st.UptimeSeconds) * time.Second).String())
			t.row("config:", st.ConfigPath)
			if st.ConfigError != "" {
				t.row("config error:", st.ConfigError)
			}
			for _, w := range st.ConfigWarnings {
				t.row("config warning:", w)
			}
			t.row("servers:", servers)
			t.row("tools:", fmt.Sprintf("%d usable", st.TotalTools))
			t.row("quarantined:", plural(st.Quarantined, "server"))
			t.row("pending tools:", fmt.Sprintf("%d (see: mcpproxy quarantine list)", st.PendingTools))
			return t.flush()
		},
	}
}

func (a *app) serversCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "servers",
		Short:   "List, add, remove, enable, disable and restart upstream servers",
		Example: "  mcpproxy servers list\n  mcpproxy servers add fs --command npx -- -y @modelcontextprotocol/server-filesystem /tmp",
	})
	cmd.AddCommand(a.serversListCmd(), a.serversGetCmd(), a.serversAddCmd(), a.serversRemoveCmd(),
		a.serversEnableCmd(true), a.serversEnableCmd(false), a.serversRestartCmd(), a.serversLogsCmd())
	return cmd
}

func (a *app) serversListCmd() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List every server with its state and tool count",
		Example: "  mcpproxy servers list\n  mcpproxy servers list --state error\n  mcpproxy servers list -o json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if state != "" && !slices.Contains(mcpproxy.AllStates, mcpproxy.ServerState(state)) {
				return usageError("--state: want one of %s, got %q", statesList(), state)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			list, err := c.Servers(cmd.Context(), mcpproxy.ServerState(state))
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if a.json() {
				return printJSON(w, list)
			}
			if len(list) == 0 {
				if state != "" {
					fmt.Fprintf(w, "No server is %s.\n", state)
					return nil
				}
				fmt.Fprintln(w, "No servers configured. Add one with: mcpproxy servers add NAME --command CMD (or --url URL)")
				return nil
			}
			t := newTable(w, "NAME", "STATE", "QUARANTINED", "PROTOCOL", "TOOLS", "LAST ERROR")
			for _, s := range list {
				t.row(s.Name, stateText(s.State, s.Installing), yesNo(s.Quarantined), string(s.Protocol), toolCount(s), truncate(s.LastError, 80))
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only servers in this state: "+statesList())
	return cmd
}

func statesList() string {
	s := make([]string, len(mcpproxy.AllStates))
	for i, st := range mcpproxy.AllStates {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func toolCount(s mcpproxy.ServerStatus) string {
	n := strconv.Itoa(s.ToolCount)
	var extra []string
	if s.PendingTools > 0 {
		extra = append(extra, fmt.Sprintf("%d pending", s.PendingTools))
	}
	if s.BlockedTools > 0 {
		extra = append(extra, fmt.Sprintf("%d blocked", s.BlockedTools))
	}
	if len(extra) > 0 {
		n += " (" + strings.Join(extra, ", ") + ")"
	}
	return n
}

func (a *app) serversGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "get NAME",
		Short:   "Show one server's status, spec (for review) and tools",
		Example: "  mcpproxy servers get github\n  mcpproxy servers get github -o json",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) (apiv1.ServerDetail, error) {
				return c.Server(ctx, argv[0])
			}, printServer)
		},
	}
}

func printServer(w io.Writer, d apiv1.ServerDetail) error {
	s := d.ServerStatus
	t := newTable(w)
	t.row("name:", s.Name)
	t.row("state:", stateText(s.State, s.Installing))
	t.row("enabled:", yesNo(s.Enabled))
	t.row("quarantined:", yesNo(s.Quarantined))
	t.row("protocol:", string(s.Protocol))
	if s.ServerInfo != nil {
		t.row("server:", strings.TrimSpace(s.ServerInfo.Name+" "+s.ServerInfo.Version))
	}
	if s.PID > 0 {
		t.row("pid:", strconv.Itoa(s.PID))
	}
	if s.ConnectedAt != nil {
		t.row("connected:", s.ConnectedAt.Local().Format(time.DateTime))
	}
	if s.LastError != "" {
		t.row("last error:", s.LastError)
	}
	if s.NextRetryAt != nil {
		t.row("next retry:", s.NextRetryAt.Local().Format(time.DateTime)+fmt.Sprintf(" (retry %d)", s.RetryCount))
	}
	t.row("tools:", toolCount(s))
	if err := t.flush(); err != nil {
		return err
	}
	if d.Review != nil {
		fmt.Fprintln(w)
		if err := printReview(w, d.Review); err != nil {
			return err
		}
	}
	if len(s.Tools) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	t = newTable(w, "TOOL", "APPROVAL", "DESCRIPTION")
	for _, tl := range s.Tools {
		t.row(tl.Name, string(tl.Approval), truncate(tl.Description, 80))
	}
	return t.flush()
}

func (a *app) serversAddCmd() *cobra.Command {
	var (
		e                mcpproxy.ServerSpec
		env, headers     []string
		disabled         bool
		connect, callTTL time.Duration
		protocol         string
		oauth            mcpproxy.OAuthSpec
	)
	cmd := &cobra.Command{
		Use:   "add NAME (--command CMD [--arg A]... [-- ARGS...] | --url URL)",
		Short: "Add an upstream server",
		Long: `Add an upstream server to the daemon's config file; the daemon connects to it
at once (unless it is added quarantined, or the config sets
quarantine_new_servers). A stdio server is a command with arguments (--arg,
repeatable, or everything after --); an HTTP server is a URL. The server's
state follows asynchronously: see "mcpproxy servers list".

Here --url is the new server's URL, not the daemon's: this command finds
the daemon through the config file (-c) only.`,
		Example: `  mcpproxy servers add everything --command npx -- -y @modelcontextprotocol/server-everything
  mcpproxy servers add fs --command npx --arg -y --arg @modelcontextprotocol/server-filesystem --arg /tmp
  mcpproxy servers add github --url https://api.githubcopilot.com/mcp/ --header 'Authorization=Bearer ${env:GITHUB_TOKEN}'
  mcpproxy servers add linear --url https://mcp.linear.app/mcp --client-id abc --scope read
  mcpproxy servers add local --command ./server --env DEBUG=1 --working-dir ~/src/server --disabled`,
		Args: args(func(cmd *cobra.Command, argv []string) error {
			if len(argv) == 0 {
				return fmt.Errorf("missing NAME")
			}
			if len(argv) > 1 && cmd.ArgsLenAtDash() != 1 {
				return fmt.Errorf("one NAME expected, got %d arguments; put the command's arguments after --", len(argv))
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, argv []string) error {
			e.Name = argv[0]
			e.Args = append(e.Args, argv[1:]...)
			hasOAuth := oauth.ClientID != "" || oauth.ClientSecret != "" || len(oauth.Scopes) > 0 || oauth.RedirectPort != 0
			switch {
			case e.Command == "" && e.URL == "":
				return usageError("servers add: give --command (stdio) or --url (HTTP)")
			case e.Command != "" && e.URL != "":
				return usageError("servers add: give --command or --url, not both")
			case e.URL != "" && (len(e.Args) > 0 || len(env) > 0 || e.WorkingDir != ""):
				return usageError("servers add: --arg, --env and --working-dir are for --command servers")
			case e.Command != "" && (len(headers) > 0 || hasOAuth):
				return usageError("servers add: --header, --client-id, --client-secret, --scope and --redirect-port are for --url servers")
			case oauth.ClientSecret != "" && oauth.ClientID == "":
				return usageError("--client-secret: needs --client-id")
			}
			if protocol != "" && !slices.Contains(mcpproxy.Protocols, mcpproxy.Protocol(protocol)) {
				return usageError("--protocol: want one of %s, got %q", protocolList(), protocol)
			}
			e.Protocol = mcpproxy.Protocol(protocol)
			var err error
			if e.Env, err = keyValues("--env", env); err != nil {
				return err
			}
			if e.Headers, err = keyValues("--header", headers); err != nil {
				return err
			}
			if hasOAuth {
				e.OAuth = &oauth
			}
			e.Enabled = !disabled
			e.ConnectTimeout, e.CallTimeout = mcpproxy.Duration(connect), mcpproxy.Duration(callTTL)
			c, err := a.client()
			if err != nil {
				return err
			}
			spec, err := c.AddServer(cmd.Context(), e)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if a.json() {
				return printJSON(w, spec)
			}
			note := ""
			switch {
			case spec.Quarantined:
				note = "; it is quarantined until approved (mcpproxy quarantine approve " + spec.Name + ")"
			case !spec.Enabled:
				note = "; it is disabled (mcpproxy servers enable " + spec.Name + ")"
			}
			fmt.Fprintf(w, "added server %q%s\n", spec.Name, note)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&e.Command, "command", "", "stdio: the command to run")
	f.StringArrayVar(&e.Args, "arg", nil, "stdio: an argument of the command (repeatable)")
	f.StringArrayVar(&env, "env", nil, "stdio: an environment variable KEY=VALUE (repeatable)")
	f.StringVar(&e.WorkingDir, "working-dir", "", "stdio: the command's working directory")
	f.StringVar(&e.URL, "url", "", "HTTP: the server's URL")
	f.StringArrayVar(&headers, "header", nil, "HTTP: a header NAME=VALUE sent with every request (repeatable)")
	f.StringVar(&oauth.ClientID, "client-id", "", "HTTP, OAuth: a client registered by hand (default: dynamic registration)")
	f.StringVar(&oauth.ClientSecret, "client-secret", "", "HTTP, OAuth: that client's secret (a ${env:NAME} placeholder keeps it out of the file)")
	f.StringArrayVar(&oauth.Scopes, "scope", nil, "HTTP, OAuth: a scope to ask for (repeatable; default: what the server asks for)")
	f.IntVar(&oauth.RedirectPort, "redirect-port", 0, "HTTP, OAuth: the port of the login's loopback redirect (default: any free port)")
	f.StringVar(&protocol, "protocol", "", "transport: "+protocolList()+" (default: stdio for --command, streamable HTTP falling back to SSE for --url)")
	f.BoolVar(&disabled, "disabled", false, "add it disabled")
	f.BoolVar(&e.Quarantined, "quarantined", false, "add it quarantined: not started until approved (mcpproxy quarantine approve)")
	f.BoolVar(&e.AutoApproveToolChanges, "auto-approve-tool-changes", false, "approve its new and changed tools without asking (for servers you fully trust)")
	f.DurationVar(&connect, "connect-timeout", 0, "deadline to connect (default: the config's connect_timeout)")
	f.DurationVar(&callTTL, "call-timeout", 0, "timeout of one tool call (default: the config's call_tool_timeout)")
	return cmd
}

// protocolList is the protocols a server may name, for help and messages.
func protocolList() string {
	names := make([]string, len(mcpproxy.Protocols))
	for i, p := range mcpproxy.Protocols {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

func (a *app) serversRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "remove NAME",
		Aliases: []string{"rm"},
		Short:   "Remove a server (and forget its tool approvals)",
		Example: "  mcpproxy servers remove github",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return a.serverAction(cmd, func(ctx context.Context, c *client.Client) (any, string, error) {
				r, err := c.RemoveServer(ctx, argv[0])
				return r, fmt.Sprintf("removed server %q", argv[0]), err
			})
		},
	}
}

func (a *app) serversEnableCmd(enable bool) *cobra.Command {
	use, short := "enable", "Enable a server: the daemon connects to it"
	if !enable {
		use, short = "disable", "Disable a server: the daemon disconnects and stops it"
	}
	return &cobra.Command{
		Use:     use + " NAME",
		Short:   short,
		Long:    short + ". The change is written to the config file at once; the server's state follows asynchronously.",
		Example: "  mcpproxy servers " + use + " github",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return a.serverAction(cmd, func(ctx context.Context, c *client.Client) (any, string, error) {
				r, err := c.SetEnabled(ctx, argv[0], enable)
				return r, fmt.Sprintf("%sd server %q", use, argv[0]), err
			})
		},
	}
}

func (a *app) serversRestartCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "restart NAME",
		Short:   "Reconnect a server now",
		Example: "  mcpproxy servers restart github",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return a.serverAction(cmd, func(ctx context.Context, c *client.Client) (any, string, error) {
				r, err := c.Restart(ctx, argv[0])
				return r, fmt.Sprintf("restarting server %q", argv[0]), err
			})
		},
	}
}

// serverAction runs one action and prints its API data (-o json) or msg.
func (a *app) serverAction(cmd *cobra.Command, do func(context.Context, *client.Client) (any, string, error)) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	data, msg, err := do(cmd.Context(), c)
	if err != nil {
		return err
	}
	if a.json() {
		return printJSON(cmd.OutOrStdout(), data)
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), msg)
	return err
}

// followWindow is how many lines each poll of logs -f asks for: the
// daemon keeps the last 1,000 stderr lines of a server.
const followWindow = 1000

func (a *app) serversLogsCmd() *cobra.Command {
	var (
		n      int
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print a server's recent stderr lines",
		Long: `Print the last lines a stdio server wrote to stderr (the daemon keeps the
last 1,000 in memory and all of them in <data_dir>/logs/server-NAME.log).
With -f, poll every second and print new lines until interrupted. With
-o json: the lines as one object, or with -f one {"server","line"} object
per line.`,
		Example: "  mcpproxy servers logs github\n  mcpproxy servers logs github -n 20 -f",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if n < 0 {
				return usageError("-n: want a non-negative number, got %d", n)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, w := cmd.Context(), cmd.OutOrStdout()
			window := n
			if follow {
				window = max(n, followWindow)
			}
			l, err := c.Logs(ctx, argv[0], window)
			if err != nil {
				return err
			}
			all := l.Lines
			l.Lines = l.Lines[max(0, len(l.Lines)-n):]
			if a.json() && !follow {
				return printJSON(w, l)
			}
			if err := a.printLines(w, argv[0], l.Lines); err != nil {
				return err
			}
			if !follow {
				return nil
			}
			return a.followLogs(ctx, c, w, argv[0], all)
		},
	}
	cmd.Flags().IntVarP(&n, "lines", "n", 100, "number of lines")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines until interrupted")
	return cmd
}

// printLines prints log lines as text, or each as a JSON string per line
// with -o json (so that -f output can be read line by line).
func (a *app) printLines(w io.Writer, server string, lines []string) error {
	for _, line := range lines {
		var err error
		if a.json() {
			err = printCompactJSON(w, map[string]string{"server": server, "line": line})
		} else {
			_, err = fmt.Fprintln(w, line)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// followLogs polls the server's log every second and prints lines it has
// not printed yet, until ctx ends. The endpoint has no line numbers, so a
// new batch is found by its overlap with the previous one; lines that
// scroll out of the daemon's window between two polls are lost.
func (a *app) followLogs(ctx context.Context, c *client.Client, w io.Writer, server string, prev []string) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		l, err := c.Logs(ctx, server, followWindow)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := a.printLines(w, server, newLines(prev, l.Lines)); err != nil {
			return err
		}
		prev = l.Lines
	}
}

// newLines returns the lines of cur that follow what prev already showed:
// cur is a later window of the same log, so the longest suffix of prev
// that is also a prefix of cur is what both show.
func newLines(prev, cur []string) []string {
	for k := min(len(prev), len(cur)); k > 0; k-- {
		if slices.Equal(prev[len(prev)-k:], cur[:k]) {
			return cur[k:]
		}
	}
	return cur
}

// printReview prints a server's spec as a person reviews it before an
// approval: every field (placeholders kept, literal secrets as ***), the
// fingerprint an approval names, what changed since the spec last
// approved, and warnings.
func printReview(w io.Writer, rv *mcpproxy.ServerReview) error {
	t := newTable(w)
	sp := rv.Spec
	t.row("spec:", "")
	t.row("  protocol:", string(sp.Protocol))
	if sp.Command != "" {
		t.row("  command:", sp.Command)
	}
	if len(sp.Args) > 0 {
		b, _ := json.Marshal(sp.Args)
		t.row("  args:", string(b))
	}
	for _, k := range sortedKeys(sp.Env) {
		t.row("  env."+k+":", sp.Env[k])
	}
	if sp.WorkingDir != "" {
		t.row("  working_dir:", sp.WorkingDir)
	}
	if sp.URL != "" {
		t.row("  url:", sp.URL)
	}
	for _, k := range sortedKeys(sp.Headers) {
		t.row("  headers."+k+":", sp.Headers[k])
	}
	if sp.OAuth != nil {
		b, _ := json.Marshal(sp.OAuth)
		t.row("  oauth:", string(b))
	}
	t.row("fingerprint:", rv.Fingerprint)
	switch {
	case rv.ApprovedAt == nil:
		t.row("approved:", "never (a new server)")
	case len(rv.Diff) == 0:
		t.row("approved:", rv.ApprovedAt.Local().Format(time.DateTime)+" (unchanged since)")
	default:
		t.row("approved:", rv.ApprovedAt.Local().Format(time.DateTime)+" (changed since:)")
		for _, c := range rv.Diff {
			t.row("  "+c.Field+":", fmt.Sprintf("%s -> %s", orNone(c.Before), orNone(c.After)))
		}
	}
	for _, wn := range rv.Warnings {
		t.row("warning:", wn.Field+" "+wn.Detail)
	}
	return t.flush()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return strconv.Quote(s)
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// stateText is a state as shown: a package runner's first start, which may
// be downloading the server, reads "installing".
func stateText(st mcpproxy.ServerState, installing bool) string {
	if st == mcpproxy.StateConnecting && installing {
		return "installing"
	}
	return string(st)
}
