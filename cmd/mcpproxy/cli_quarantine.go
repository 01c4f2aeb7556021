package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/client"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/spf13/cobra"
)

func (a *app) quarantineCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "quarantine",
		Short: "Review and approve quarantined servers and new or changed tools",
		Long: `Quarantined servers, and tools that appeared or changed on approved servers,
are withheld from agents until a person approves them. Only a person can:
no MCP tool reaches these commands' endpoints.`,
		Example: "  mcpproxy quarantine list\n  mcpproxy quarantine approve github\n  mcpproxy quarantine block github --tool delete_repo",
	})
	cmd.AddCommand(a.quarantineListCmd(), a.quarantineApproveCmd(), a.quarantineBlockCmd())
	return cmd
}

func (a *app) quarantineListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List what waits for approval: quarantined servers and new or changed tools",
		Example: "  mcpproxy quarantine list\n  mcpproxy quarantine list -o json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]apiv1.Waiting, error) {
				return c.Quarantine(ctx)
			}, func(w io.Writer, list []apiv1.Waiting) error {
				if len(list) == 0 {
					fmt.Fprintln(w, "Nothing waits for approval.")
					return nil
				}
				t := newTable(w, "SERVER", "QUARANTINED", "STATE", "TOOL", "APPROVAL", "WARNINGS")
				for _, s := range list {
					if len(s.Tools) == 0 {
						t.row(s.Server, yesNo(s.Quarantined), string(s.State), "", "", "")
					}
					for _, tl := range s.Tools {
						var warn []string
						for _, w := range tl.Warnings {
							warn = append(warn, w.Kind)
						}
						t.row(s.Server, yesNo(s.Quarantined), string(s.State), tl.Name, string(tl.Approval), strings.Join(warn, ", "))
					}
				}
				if err := t.flush(); err != nil {
					return err
				}
				for _, s := range list {
					if s.Review != nil {
						fmt.Fprintf(w, "\nserver %s (quarantined: not started until approved)\n", s.Server)
						if err := printReview(w, s.Review); err != nil {
							return err
						}
					}
				}
				fmt.Fprintln(w, "\nInspect a tool with: mcpproxy tools list --server SERVER -o json")
				return nil
			})
		},
	}
}

func (a *app) quarantineApproveCmd() *cobra.Command {
	var (
		tools       []string
		fingerprint string
	)
	cmd := &cobra.Command{
		Use:   "approve NAME [--fingerprint FP] [--tool TOOL[@FP]]...",
		Short: "Approve a quarantined server, or a server's new and changed tools",
		Long: `An approval names exactly what was reviewed, by fingerprint: what changed
after the review is refused (exit 1, with what changed) and nothing is approved.

Without --tool: approve a quarantined server's spec (command, args, env, url,
headers…) and start it. The command prints the spec it approves; pass
--fingerprint with the one you reviewed (mcpproxy servers get NAME shows it),
else the spec printed now is approved. The first tools of a server that never
ran approved are approved with it; a server with approved tools keeps them,
and its new or changed tools wait. On a server that is not quarantined,
approve its pending and changed tools as listed now (printed).
With --tool: approve those tools, each as listed now or, as TOOL@FP, the
definition with that fingerprint (mcpproxy tools list --server NAME -o json).`,
		Example: "  mcpproxy quarantine approve github --fingerprint 3f9c0e…\n" +
			"  mcpproxy quarantine approve github --tool create_issue --tool list_issues@9ab1…",
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			name := argv[0]
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, w := cmd.Context(), cmd.OutOrStdout()
			if len(tools) == 0 {
				srv, err := c.Server(ctx, name)
				if err != nil {
					return err
				}
				if srv.Quarantined {
					if srv.Review == nil {
						return fmt.Errorf("server %q: the daemon showed no spec to review", name)
					}
					fp := fingerprint
					if fp == "" {
						fp = srv.Review.Fingerprint
					}
					if !a.json() {
						fmt.Fprintf(w, "approving server %q:\n", name)
						if err := printReview(w, srv.Review); err != nil {
							return err
						}
					}
					r, err := c.Unquarantine(ctx, name, fp)
					if err != nil {
						return err
					}
					if a.json() {
						return printJSON(w, r)
					}
					fmt.Fprintf(w, "approved server %q (fingerprint %s); it starts now\n", name, fp)
					return nil
				}
				if fingerprint != "" {
					return usageError("--fingerprint: server %q is not quarantined; approve its tools with --tool TOOL@FP", name)
				}
			}
			listed, err := c.ServerTools(ctx, name)
			if err != nil {
				return err
			}
			byName := map[string]apiv1.ToolView{}
			for _, t := range listed {
				byName[t.Name] = t
			}
			var refs []mcpproxy.ToolRef
			if len(tools) == 0 {
				for _, t := range listed {
					if t.Approval == mcpproxy.ApprovalPending || t.Approval == mcpproxy.ApprovalChanged {
						refs = append(refs, mcpproxy.ToolRef{Name: t.Name, Fingerprint: t.Fingerprint})
					}
				}
				if len(refs) == 0 {
					if a.json() {
						return printJSON(w, map[string]any{"server": name, "approved": []string{}})
					}
					fmt.Fprintf(w, "nothing of server %q waits for approval\n", name)
					return nil
				}
			}
			for _, spec := range tools {
				tool, fp, pinned := strings.Cut(spec, "@")
				if !pinned {
					t, ok := byName[tool]
					if !ok {
						return fmt.Errorf("server %q lists no tool %q", name, tool)
					}
					fp = t.Fingerprint
				}
				refs = append(refs, mcpproxy.ToolRef{Name: tool, Fingerprint: fp})
			}
			if !a.json() {
				for _, r := range refs {
					fmt.Fprintf(w, "approving %s:%s (fingerprint %s)\n", name, r.Name, r.Fingerprint)
				}
			}
			d, err := c.ApproveTools(ctx, name, refs)
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(w, d)
			}
			fmt.Fprintf(w, "approved %s of server %q: %s\n", plural(len(d.Approved), "tool"), name, strings.Join(d.Approved, ", "))
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&tools, "tool", nil, "a tool to approve, TOOL or TOOL@FINGERPRINT (repeatable)")
	cmd.Flags().StringVar(&fingerprint, "fingerprint", "", "the fingerprint of the server spec you reviewed")
	return cmd
}

func (a *app) quarantineBlockCmd() *cobra.Command {
	var (
		tools []string
		all   bool
	)
	cmd := &cobra.Command{
		Use:   "block NAME (--tool TOOL... | --all)",
		Short: "Block tools of a server, whatever their definition, until approved",
		Example: "  mcpproxy quarantine block github --tool delete_repo\n" +
			"  mcpproxy quarantine block untrusted --all",
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			switch {
			case len(tools) == 0 && !all:
				return usageError("quarantine block: give --tool TOOL (repeatable) or --all")
			case len(tools) > 0 && all:
				return usageError("quarantine block: give --tool or --all, not both")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			d, err := c.BlockTools(cmd.Context(), argv[0], tools, all)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if a.json() {
				return printJSON(w, d)
			}
			fmt.Fprintf(w, "blocked %s of server %q: %s\n", plural(len(d.Blocked), "tool"), argv[0], strings.Join(d.Blocked, ", "))
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&tools, "tool", nil, "a tool to block (repeatable)")
	cmd.Flags().BoolVar(&all, "all", false, "block every tool the server lists now")
	return cmd
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
