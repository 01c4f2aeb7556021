package pinning

import (
	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
)

// ToolView is a tool shown for review.
type ToolView = apiv1.ToolView

// PinLookup returns a tool's pin (Pins.Pin, or the supervisor's
// ApprovedTool).
type PinLookup func(server, tool string) (Pin, bool)

// Review returns every tool of srv for review.
func Review(srv *stateview.Server, lookup PinLookup) []ToolView {
	out := make([]ToolView, 0, len(srv.Tools))
	for i := range srv.Tools {
		tv := ToolView{Tool: srv.Tools[i]}
		if lookup != nil {
			if pin, ok := lookup(srv.Name, tv.Name); ok && pin.State == StateApproved {
				at := pin.At
				tv.ApprovedAt = &at
				if tv.Approval == mcpproxy.ApprovalChanged {
					old := pin.Tool
					tv.Approved = &old
					tv.Diff = Diff(&old, &tv.Tool)
				}
			}
		}
		out = append(out, tv)
	}
	return out
}

// Waiting is one server with something that waits for a person.
type Waiting = apiv1.Waiting

// WaitingList lists every quarantined server (with all its tools) and every
// approved server with tools pending or changed (with those tools). With
// only != "", it lists that server alone, whatever its state.
func WaitingList(snap *stateview.Snapshot, lookup PinLookup, only string) []Waiting {
	out := []Waiting{}
	for _, name := range snap.Names {
		srv := snap.Get(name)
		if only != "" && name != only {
			continue
		}
		if only == "" && !srv.Quarantined && srv.PendingTools == 0 {
			continue
		}
		e := Waiting{Server: name, Quarantined: srv.Quarantined, State: srv.State, LastError: srv.LastError, Tools: []ToolView{}}
		for _, tv := range Review(srv, lookup) {
			if only != "" || srv.Quarantined || tv.Approval == mcpproxy.ApprovalPending || tv.Approval == mcpproxy.ApprovalChanged {
				e.Tools = append(e.Tools, tv)
			}
		}
		out = append(out, e)
	}
	return out
}
