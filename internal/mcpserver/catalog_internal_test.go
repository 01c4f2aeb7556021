package mcpserver

import (
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// TestBuildDirect_NameCollision: server "a__b" tool "c" and server "a" tool
// "b__c" both make "a__b__c". The name must route to one tool, the same
// one every time, and be listed once.
func TestBuildDirect_NameCollision(t *testing.T) {
	tool := func(name string) mcpproxy.Tool {
		return mcpproxy.Tool{Name: name, Approval: mcpproxy.ApprovalApproved}
	}
	indexed := map[string][]mcpproxy.Tool{
		"a__b": {tool("c")},
		"a":    {tool("b__c"), tool("d")},
	}
	for range 20 { // map order varies between runs
		set := buildDirect(indexed, nil)
		var names []string
		for _, tl := range set.tools {
			names = append(names, tl.Name)
		}
		if len(names) != 2 || names[0] != "a__b__c" || names[1] != "a__d" {
			t.Fatalf("tools = %v, want [a__b__c a__d]", names)
		}
		if rt := set.routes["a__b__c"]; rt != (route{"a", "b__c"}) {
			t.Fatalf("a__b__c routes to %+v, want the server that sorts first (a, b__c)", rt)
		}
	}
}

// TestBuildDirect_OnlyApproved: tools waiting for approval or blocked are
// not listed in direct mode.
func TestBuildDirect_OnlyApproved(t *testing.T) {
	indexed := map[string][]mcpproxy.Tool{"s": {
		{Name: "ok", Approval: mcpproxy.ApprovalApproved},
		{Name: "new", Approval: mcpproxy.ApprovalPending},
		{Name: "changed", Approval: mcpproxy.ApprovalChanged},
		{Name: "blocked", Approval: mcpproxy.ApprovalBlocked},
	}}
	set := buildDirect(indexed, nil)
	if len(set.tools) != 1 || set.tools[0].Name != "s__ok" || len(set.routes) != 1 {
		t.Fatalf("direct set = %d tools %v", len(set.tools), set.routes)
	}
}
