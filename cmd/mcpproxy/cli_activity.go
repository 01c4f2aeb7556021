package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/client"
	"github.com/spf13/cobra"
)

func (a *app) activityCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "activity",
		Short:   "Show the activity log: tool calls and management actions",
		Example: "  mcpproxy activity list --since 1h\n  mcpproxy activity show 0000018f2a3b4c5d0001",
	})
	cmd.AddCommand(a.activityListCmd(), a.activityShowCmd())
	return cmd
}

func (a *app) activityListCmd() *cobra.Command {
	var f client.ActivityFilter
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List activity records, newest first",
		Long: `List activity records, newest first. Filters combine; --since takes a
duration back from now (1h, 30m) or an RFC 3339 time. When more records
match than --limit, the next page's --cursor is printed on stderr.`,
		Example: "  mcpproxy activity list\n  mcpproxy activity list --server github --status tool_error --since 24h\n  mcpproxy activity list --sensitive\n  mcpproxy activity list --kind management -o json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkActivityFilter(f, time.Now()); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			page, err := c.Activity(cmd.Context(), f)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if a.json() {
				return printJSON(w, page)
			}
			if len(page.Records) == 0 {
				fmt.Fprintln(w, "No activity recorded.")
				return nil
			}
			t := newTable(w, "ID", "TIME", "KIND", "SERVER", "TOOL/ACTION", "STATUS", "DURATION", "CLIENT", "SENSITIVE")
			for _, r := range page.Records {
				what := r.Tool
				if what == "" {
					what = r.Action
				}
				t.row(r.ID, r.Time.Local().Format(time.DateTime), r.Kind, r.Server, what, r.Status, duration(r.DurationMS), clientLabel(r.Client),
					strings.Join(r.Sensitive.Kinds(), ","))
			}
			if err := t.flush(); err != nil {
				return err
			}
			if page.NextCursor != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "more: add --cursor %s\n", page.NextCursor)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Server, "server", "", "only this server")
	fl.StringVar(&f.Tool, "tool", "", "only this tool")
	fl.StringVar(&f.Status, "status", "", "only this status: ok, tool_error, error, blocked, timeout, cancelled")
	fl.StringVar(&f.Kind, "kind", "", "only this kind: tool_call or management")
	fl.StringVar(&f.Since, "since", "", "only records since this time: a duration back from now (1h) or RFC 3339")
	fl.IntVar(&f.Limit, "limit", 0, "most records (default 50, at most 1000)")
	fl.StringVar(&f.Cursor, "cursor", "", "continue a listing after this record id")
	fl.BoolVar(&f.Sensitive, "sensitive", false, "only records in which sensitive data was found")
	return cmd
}

var (
	activityStatuses = []string{activity.StatusOK, activity.StatusToolError, activity.StatusError,
		activity.StatusBlocked, activity.StatusTimeout, activity.StatusCancelled}
	activityKinds = []string{activity.KindToolCall, activity.KindManagement}
)

// checkActivityFilter refuses malformed filter flags before asking the
// daemon, so that they are usage errors.
func checkActivityFilter(f client.ActivityFilter, now time.Time) error {
	switch {
	case f.Status != "" && !slices.Contains(activityStatuses, f.Status):
		return usageError("--status: want one of %s, got %q", strings.Join(activityStatuses, ", "), f.Status)
	case f.Kind != "" && !slices.Contains(activityKinds, f.Kind):
		return usageError("--kind: want one of %s, got %q", strings.Join(activityKinds, ", "), f.Kind)
	case f.Limit < 0 || f.Limit > activity.MaxLimit:
		return usageError("--limit: want a number from 1 to %d, got %d", activity.MaxLimit, f.Limit)
	}
	if f.Since != "" {
		if _, err := time.Parse(time.RFC3339, f.Since); err != nil {
			if d, err := time.ParseDuration(f.Since); err != nil || d <= 0 {
				return usageError("--since: want a duration like 1h or 30m, or an RFC 3339 time (%s), got %q", now.UTC().Format(time.RFC3339), f.Since)
			}
		}
	}
	return nil
}

// clientLabel is the client column: its name, and the agent token it came
// with.
func clientLabel(c apiv1.ActivityClient) string {
	if c.Token == "" {
		return c.Name
	}
	if c.Name == "" {
		return "token " + c.Token
	}
	return c.Name + " (token " + c.Token + ")"
}

func duration(ms float64) string {
	d := time.Duration(ms * float64(time.Millisecond))
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func (a *app) activityShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "show ID",
		Short:   "Show one activity record with its arguments",
		Example: "  mcpproxy activity show 0000018f2a3b4c5d0001 -o json",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) (apiv1.ActivityRecord, error) {
				return c.ActivityRecord(ctx, argv[0])
			}, printRecord)
		},
	}
}

func printRecord(w io.Writer, r apiv1.ActivityRecord) error {
	t := newTable(w)
	t.row("id:", r.ID)
	t.row("time:", r.Time.Local().Format(time.RFC3339Nano))
	t.row("kind:", r.Kind)
	t.row("endpoint:", r.Endpoint)
	client := r.Client.Name
	if r.Client.Version != "" {
		client += " " + r.Client.Version
	}
	if r.Client.Remote != "" {
		client += " from " + r.Client.Remote
	}
	t.row("client:", client)
	if r.Client.Token != "" {
		t.row("agent token:", r.Client.Token)
	}
	t.row("server:", r.Server)
	if r.Tool != "" {
		t.row("tool:", r.Tool)
	}
	if r.Action != "" {
		t.row("action:", r.Action)
	}
	if in := r.Intent; in != nil {
		t.row("intent:", in.Variant)
		if in.Reason != "" {
			t.row("reason:", in.Reason)
		}
	}
	t.row("status:", r.Status)
	t.row("duration:", duration(r.DurationMS))
	if r.Kind == "tool_call" {
		t.row("result size:", strconv.Itoa(r.ResultSize)+" bytes")
	}
	if r.Error != "" {
		t.row("error:", r.Error)
	}
	if s := r.Sensitive; s != nil {
		if len(s.Arguments) > 0 {
			t.row("sensitive in arguments:", strings.Join(s.Arguments, ", "))
		}
		if len(s.Result) > 0 {
			t.row("sensitive in result:", strings.Join(s.Result, ", "))
		}
		action := map[string]string{"flag": "flagged", "redact": "redacted in what reached the client", "block": "blocked"}[s.Action]
		if action == "" {
			action = s.Action
		}
		t.row("sensitive data:", action)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(r.Arguments) > 0 {
		var b bytes.Buffer
		if json.Indent(&b, r.Arguments, "  ", "  ") != nil {
			b.Reset()
			b.Write(r.Arguments)
		}
		fmt.Fprintf(w, "arguments:\n  %s\n", b.String())
	}
	return nil
}
