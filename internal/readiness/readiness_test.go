package readiness

import (
	"slices"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
)

func server(name string, st mcpproxy.ServerState, tools ...mcpproxy.Tool) *stateview.Server {
	return &stateview.Server{ServerStatus: mcpproxy.ServerStatus{Name: name, Enabled: st != mcpproxy.StateDisabled,
		Quarantined: st == mcpproxy.StateQuarantined, State: st, Tools: tools}, Generation: 1}
}

func tool(name string, a mcpproxy.Approval) mcpproxy.Tool {
	return mcpproxy.Tool{Name: name, Approval: a}
}

func TestCheck(t *testing.T) {
	v := stateview.New()
	for _, s := range []*stateview.Server{
		server("gh", mcpproxy.StateReady, tool("create_issue", mcpproxy.ApprovalApproved), tool("delete_repo", mcpproxy.ApprovalChanged),
			tool("new_tool", mcpproxy.ApprovalPending), tool("evil", mcpproxy.ApprovalBlocked)),
		server("slow", mcpproxy.StateConnecting),
		server("down", mcpproxy.StateError),
		server("bye", mcpproxy.StateStopping),
		server("off", mcpproxy.StateDisabled, tool("x", mcpproxy.ApprovalApproved)),
		server("login", mcpproxy.StateNeedsAuth),
		server("quar", mcpproxy.StateQuarantined, tool("secret_tool", mcpproxy.ApprovalPending)),
	} {
		v.Put(s)
	}
	snap := v.Load()
	for _, tc := range []struct {
		id, status, class string
		hint              string
	}{
		{"gh:create_issue", "ready", apiv1.PreflightReady, ""},
		{"gh:delete_repo", "changed", apiv1.PreflightBlocked, ""},
		{"gh:new_tool", "pending_approval", apiv1.PreflightBlocked, ""},
		{"gh:evil", "blocked", apiv1.PreflightBlocked, ""},
		{"gh:create_isue", "unknown_tool", apiv1.PreflightMisconfigured, "gh:create_issue"},
		{"hg:create_issue", "unknown_server", apiv1.PreflightMisconfigured, "gh:create_issue"},
		{"create_issue", "invalid_id", apiv1.PreflightMisconfigured, "gh:create_issue"},
		{"gh:", "invalid_id", apiv1.PreflightMisconfigured, ""},
		{"slow:anything", "starting", apiv1.PreflightTransient, ""},
		{"down:anything", "retrying", apiv1.PreflightTransient, ""},
		{"bye:anything", "stopping", apiv1.PreflightTransient, ""},
		{"off:x", "disabled", apiv1.PreflightMisconfigured, ""},
		{"login:x", "needs_login", apiv1.PreflightBlocked, ""},
		{"quar:secret_tool", "quarantined", apiv1.PreflightBlocked, ""},
	} {
		got := Check(snap, []string{tc.id})
		tp := got.Tools[0]
		if tp.ID != tc.id || tp.Status != tc.status || tp.Class != tc.class || tp.Ready != (tc.class == apiv1.PreflightReady) ||
			got.Class != tc.class || got.Ready != tp.Ready {
			t.Errorf("%s: %+v (overall %s %v), want %s %s", tc.id, tp, got.Class, got.Ready, tc.status, tc.class)
		}
		if (tp.Message == "") != tp.Ready {
			t.Errorf("%s: message %q", tc.id, tp.Message)
		}
		if tc.hint != "" && !slices.Contains(tp.DidYouMean, tc.hint) {
			t.Errorf("%s: did_you_mean %v, want %s in it", tc.id, tp.DidYouMean, tc.hint)
		}
		if slices.ContainsFunc(tp.DidYouMean, func(s string) bool { return strings.HasPrefix(s, "quar:") }) {
			t.Errorf("%s: a quarantined server's tool is suggested: %v", tc.id, tp.DidYouMean)
		}
	}
	// The worst class wins: misconfigured, then blocked, then transient.
	for _, tc := range []struct {
		ids  []string
		want string
	}{
		{[]string{"gh:create_issue", "slow:a"}, apiv1.PreflightTransient},
		{[]string{"slow:a", "login:x", "gh:create_issue"}, apiv1.PreflightBlocked},
		{[]string{"login:x", "nope:x", "slow:a"}, apiv1.PreflightMisconfigured},
		{[]string{"gh:create_issue", "gh:create_issue"}, apiv1.PreflightReady},
	} {
		if got := Check(snap, tc.ids); got.Class != tc.want || len(got.Tools) != len(tc.ids) || got.Ready != (tc.want == apiv1.PreflightReady) {
			t.Errorf("%v: class %s ready %v (%d tools), want %s", tc.ids, got.Class, got.Ready, len(got.Tools), tc.want)
		}
	}
}

func TestClosest(t *testing.T) {
	cands := []string{"github:create_issue", "github:list_issues", "fs:read_file", "fs:write_file"}
	for _, tc := range []struct {
		want string
		got  []string
	}{
		{"github:create_isue", []string{"github:create_issue", "github:list_issues"}},
		{"fs:read_fil", []string{"fs:read_file", "fs:write_file"}},
		{"completely different", nil},
	} {
		if got := Closest(tc.want, cands, 2); !slices.Equal(got, tc.got) {
			t.Errorf("Closest(%q) = %v, want %v", tc.want, got, tc.got)
		}
	}
}
