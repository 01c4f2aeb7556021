// Package readiness says whether a tool, named by its id ("server:tool"),
// can be called now, and if not why, from a state snapshot alone: nothing
// here asks an upstream. The REST API's preflight and the MCP tools'
// refusals of unknown ids share it, and its closest-match search.
//
// Concurrency: pure functions over an immutable snapshot.
package readiness

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
)

// MaxIDs bounds the ids of one preflight.
const MaxIDs = 100

// Check says whether each tool of ids can be called now.
func Check(snap *stateview.Snapshot, ids []string) apiv1.Preflight {
	out := apiv1.Preflight{Ready: true, Class: apiv1.PreflightReady, Tools: make([]apiv1.ToolPreflight, 0, len(ids))}
	var known []string // every tool id, for hints; built on the first unknown id
	for _, id := range ids {
		t := checkOne(snap, id, &known)
		out.Tools = append(out.Tools, t)
		if !t.Ready {
			out.Ready = false
		}
		if rank(t.Class) > rank(out.Class) {
			out.Class = t.Class
		}
	}
	return out
}

func rank(class string) int {
	return slices.Index([]string{apiv1.PreflightReady, apiv1.PreflightTransient, apiv1.PreflightBlocked, apiv1.PreflightMisconfigured}, class)
}

func checkOne(snap *stateview.Snapshot, id string, known *[]string) apiv1.ToolPreflight {
	t := apiv1.ToolPreflight{ID: id}
	set := func(status, class, format string, args ...any) apiv1.ToolPreflight {
		t.Status, t.Class, t.Message = status, class, fmt.Sprintf(format, args...)
		t.Ready = class == apiv1.PreflightReady
		return t
	}
	hints := func() []string {
		if *known == nil {
			*known = allIDs(snap)
		}
		return Closest(id, *known, 3)
	}
	server, tool, ok := strings.Cut(id, ":")
	if !ok || server == "" || tool == "" {
		t.DidYouMean = hints()
		return set("invalid_id", apiv1.PreflightMisconfigured, "%q is not a tool id: want server:tool", id)
	}
	srv := snap.Get(server)
	if srv == nil {
		t.DidYouMean = hints()
		return set("unknown_server", apiv1.PreflightMisconfigured, "no server %q is configured", server)
	}
	t.ServerState = string(srv.State)
	switch {
	case srv.Quarantined:
		return set("quarantined", apiv1.PreflightBlocked, "server %q is quarantined: a person must approve it (mcpproxy quarantine approve %s)", server, server)
	case !srv.Enabled || srv.State == mcpproxy.StateDisabled:
		return set("disabled", apiv1.PreflightMisconfigured, "server %q is disabled: enable it (mcpproxy servers enable %s)", server, server)
	case srv.State == mcpproxy.StateNeedsAuth:
		return set("needs_login", apiv1.PreflightBlocked, "server %q needs a person to log in (mcpproxy auth login %s)", server, server)
	case srv.State != mcpproxy.StateReady:
		t.NextRetryAt = srv.NextRetryAt
		status, msg := "starting", fmt.Sprintf("server %q is connecting", server)
		switch srv.State {
		case mcpproxy.StateError:
			status, msg = "retrying", fmt.Sprintf("server %q failed to connect and will try again", server)
		case mcpproxy.StateStopping:
			status, msg = "stopping", fmt.Sprintf("server %q is stopping (to restart)", server)
		}
		if srv.LastError != "" {
			msg += " (last error: " + srv.LastError + ")"
		}
		return set(status, apiv1.PreflightTransient, "%s", msg)
	}
	for i := range srv.Tools {
		tl := &srv.Tools[i]
		if tl.Name != tool {
			continue
		}
		switch tl.Approval {
		case mcpproxy.ApprovalApproved:
			return set("ready", apiv1.PreflightReady, "")
		case mcpproxy.ApprovalChanged:
			return set("changed", apiv1.PreflightBlocked, "tool %s changed since it was approved: a person must approve the new definition (mcpproxy quarantine approve %s --tool %s)", id, server, tool)
		case mcpproxy.ApprovalBlocked:
			return set("blocked", apiv1.PreflightBlocked, "tool %s is blocked by a person", id)
		default:
			return set("pending_approval", apiv1.PreflightBlocked, "tool %s is new and waits for a person's approval (mcpproxy quarantine approve %s --tool %s)", id, server, tool)
		}
	}
	t.DidYouMean = hints()
	return set("unknown_tool", apiv1.PreflightMisconfigured, "server %q has no tool %q", server, tool)
}

// allIDs lists the id of every tool the snapshot knows, of servers that
// are not quarantined.
func allIDs(snap *stateview.Snapshot) []string {
	ids := []string{}
	for srv := range snap.All() {
		if srv.Quarantined {
			continue
		}
		for i := range srv.Tools {
			ids = append(ids, srv.Name+":"+srv.Tools[i].Name)
		}
	}
	return ids
}

// Closest returns up to n candidates close to want, closest first: within
// an edit distance of max(3, half of want's length), a candidate that
// contains want or is contained in it counting half its distance.
func Closest(want string, candidates []string, n int) []string {
	type scored struct {
		s string
		d int
	}
	var best []scored
	lw := strings.ToLower(want)
	for _, c := range candidates {
		lc := strings.ToLower(c)
		d := config.EditDistance(lw, lc)
		if strings.Contains(lc, lw) || strings.Contains(lw, lc) {
			d /= 2
		}
		if d <= max(3, len(want)/2) {
			best = append(best, scored{c, d})
		}
	}
	slices.SortStableFunc(best, func(a, b scored) int { return a.d - b.d })
	var names []string
	for i := 0; i < len(best) && i < n; i++ {
		names = append(names, best[i].s)
	}
	return names
}
