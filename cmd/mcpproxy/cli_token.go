package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/client"
	"github.com/spf13/cobra"
)

func (a *app) tokenCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "token",
		Aliases: []string{"tokens"},
		Short:   "Create, list and revoke agent tokens for MCP clients",
		Long: `An agent token names an MCP client and limits it: to some servers' tools,
optionally to read-only tools (annotated readOnlyHint), and to using
upstream_servers only when created with --manage. A client sends it as
Authorization: Bearer mcpp_… (or X-API-Key) to /mcp, /sse, /mcp/all or
/mcp/server/NAME. The secret is shown once, at creation; the daemon keeps
only its hash.`,
		Example: "  mcpproxy token create ci-bot --servers github,gitlab --read-only --expires 30d\n  mcpproxy token list\n  mcpproxy token revoke ci-bot",
	})
	cmd.AddCommand(a.tokenCreateCmd(), a.tokenListCmd(), a.tokenRevokeCmd())
	return cmd
}

func (a *app) tokenCreateCmd() *cobra.Command {
	var (
		spec     apiv1.TokenSpec
		servers  string
		noManage bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME --servers a,b [--read-only] [--manage] [--expires 30d]",
		Short: "Create an agent token and print its secret, once",
		Example: "  mcpproxy token create ci-bot --servers github,gitlab --read-only --expires 30d\n" +
			"  mcpproxy token create ops --servers '*' --manage",
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if servers == "" {
				return usageError("--servers: required: the servers the token may use, comma-separated, or '*' for all")
			}
			if noManage && spec.Manage {
				return usageError("--manage and --no-manage: pick one")
			}
			spec.Name = argv[0]
			for _, s := range strings.Split(servers, ",") {
				if s = strings.TrimSpace(s); s != "" {
					spec.Servers = append(spec.Servers, s)
				}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			t, err := c.CreateToken(cmd.Context(), spec)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if a.json() {
				return printJSON(w, t)
			}
			fmt.Fprintf(w, "Created agent token %s (%s).\n\n  %s\n\n", t.Name, tokenScope(t.Token), t.Secret)
			fmt.Fprintln(w, "This is the only time the secret is shown: copy it now. MCP clients send it as")
			fmt.Fprintln(w, "the header Authorization: Bearer <secret>.")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&servers, "servers", "", "servers the token may use, comma-separated ('*' for all)")
	fl.BoolVar(&spec.ReadOnly, "read-only", false, "only tools annotated readOnlyHint")
	fl.BoolVar(&spec.Manage, "manage", false, "may use upstream_servers on its servers (default: may not)")
	fl.BoolVar(&noManage, "no-manage", false, "may not use upstream_servers (the default)")
	fl.StringVar(&spec.Expires, "expires", "", "lifetime: 30d, 12h, 90m (default: never)")
	return cmd
}

// tokenScope describes what a token may do, in a few words.
func tokenScope(t apiv1.Token) string {
	s := "servers " + strings.Join(t.Servers, ",")
	if t.ReadOnly {
		s += ", read-only"
	}
	if t.Manage {
		s += ", may manage"
	}
	if !t.ExpiresAt.IsZero() {
		s += ", expires " + t.ExpiresAt.Local().Format(time.DateTime)
	}
	return s
}

func (a *app) tokenListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List agent tokens (never their secrets)",
		Example: "  mcpproxy token list\n  mcpproxy token list -o json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]apiv1.Token, error) {
				return c.Tokens(ctx)
			}, func(w io.Writer, list []apiv1.Token) error {
				if len(list) == 0 {
					fmt.Fprintln(w, "No agent tokens. Create one with: mcpproxy token create NAME --servers a,b")
					return nil
				}
				t := newTable(w, "NAME", "SERVERS", "READ-ONLY", "MANAGE", "CREATED", "EXPIRES", "LAST USED")
				for _, tk := range list {
					t.row(tk.Name, strings.Join(tk.Servers, ","), yesNo(tk.ReadOnly), yesNo(tk.Manage),
						localTime(tk.CreatedAt, ""), expiresLabel(tk), localTime(tk.LastUsed, "never"))
				}
				return t.flush()
			})
		},
	}
}

func localTime(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.Local().Format(time.DateTime)
}

func expiresLabel(t apiv1.Token) string {
	switch {
	case t.ExpiresAt.IsZero():
		return "never"
	case t.Expired:
		return "expired " + localTime(t.ExpiresAt, "")
	}
	return localTime(t.ExpiresAt, "")
}

func (a *app) tokenRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "revoke NAME",
		Aliases: []string{"rm"},
		Short:   "Revoke an agent token; clients using it are refused from their next request",
		Example: "  mcpproxy token revoke ci-bot",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) (apiv1.RevokedToken, error) {
				return c.RevokeToken(ctx, argv[0])
			}, func(w io.Writer, r apiv1.RevokedToken) error {
				_, err := fmt.Fprintf(w, "Revoked agent token %s.\n", r.Token)
				return err
			})
		},
	}
}
