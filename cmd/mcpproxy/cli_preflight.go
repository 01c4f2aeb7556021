package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/spf13/cobra"
)

// The exit statuses of tools preflight, after BSD's sysexits.h, so that a
// script can tell waiting from asking a person from fixing its input.
const (
	exitTransient     = 75 // EX_TEMPFAIL: a server is on its way; try again
	exitBlocked       = 77 // EX_NOPERM: a person must approve or log in
	exitMisconfigured = 78 // EX_CONFIG: unknown id, or a disabled server
)

// preflightPoll is how often --wait asks again.
const preflightPoll = 250 * time.Millisecond

func (a *app) toolsPreflightCmd() *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "preflight SERVER:TOOL... [--wait 10s]",
		Short: "Say whether tools can be called now, without calling them",
		Long: `Say, for each tool, whether it can be called now and if not why, from the
daemon's state alone: no upstream is called. For automations that should not
start work a tool they need cannot do yet.

Exit status:
  0   every tool is ready
  75  transient: a server is starting, reconnecting or restarting (try again,
      or pass --wait)
  77  blocked: a server is quarantined, a tool is new, changed since it was
      approved or blocked, or a server needs a login; a person must act
  78  misconfigured: an unknown server or tool (the closest ids are shown),
      an id that is not server:tool, or a disabled server
  1   the daemon could not be asked
When tools differ, the worst wins: 78, then 77, then 75.

--wait asks again until every tool is ready or the time is up, as long as
what stands in the way is transient; blocked and misconfigured tools end it
at once.`,
		Example: "  mcpproxy tools preflight github:create_issue\n  mcpproxy tools preflight github:create_issue fs:read_file --wait 30s -o json",
		Args:    args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, ids []string) error {
			if wait < 0 {
				return usageError("--wait: want a positive duration, got %s", wait)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			deadline := time.Now().Add(wait)
			var p apiv1.Preflight
			for {
				if p, err = c.Preflight(ctx, ids); err != nil {
					return err
				}
				if p.Class != apiv1.PreflightTransient || !time.Now().Before(deadline) {
					break
				}
				if err := sleepCtx(ctx, min(preflightPoll, time.Until(deadline))); err != nil {
					return err
				}
			}
			if err := printPreflight(cmd, a, p); err != nil {
				return err
			}
			return preflightExit(p)
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "ask again until the tools are ready or this time is up (transient states only)")
	return cmd
}

func printPreflight(cmd *cobra.Command, a *app, p apiv1.Preflight) error {
	w := cmd.OutOrStdout()
	if a.json() {
		return printJSON(w, p)
	}
	t := newTable(w, "TOOL", "STATUS", "CLASS", "WHY")
	for _, tp := range p.Tools {
		why := tp.Message
		if len(tp.DidYouMean) > 0 {
			why += "; did you mean " + strings.Join(tp.DidYouMean, ", ") + "?"
		}
		t.row(tp.ID, tp.Status, tp.Class, why)
	}
	return t.flush()
}

// preflightExit is the command's outcome: nil when every tool is ready,
// else the exit status of the worst class.
func preflightExit(p apiv1.Preflight) error {
	if p.Ready {
		return nil
	}
	n := 0
	for _, tp := range p.Tools {
		if !tp.Ready {
			n++
		}
	}
	code := map[string]int{apiv1.PreflightTransient: exitTransient, apiv1.PreflightBlocked: exitBlocked, apiv1.PreflightMisconfigured: exitMisconfigured}[p.Class]
	return &exitError{code, fmt.Errorf("preflight: %d of %d tools not ready (%s)", n, len(p.Tools), p.Class)}
}

// sleepCtx waits d (nothing if d <= 0) or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
