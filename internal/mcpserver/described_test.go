package mcpserver

import (
	"encoding/json"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// describe_tool answers with a tool's definition, its id, server and call
// variant, in this order, and nothing of its approval: a tool with every
// field set encodes to exactly this.
func TestDescribedTool_JSON(t *testing.T) {
	tool := &mcpproxy.Tool{
		Name: "search", Title: "Search", Description: "Find things.",
		InputSchema:  json.RawMessage(`{"type":"object"}`),
		OutputSchema: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer"}}}`),
		Annotations:  json.RawMessage(`{"readOnlyHint":true}`),
		Fingerprint:  "9f86d081884c7d65", Approval: mcpproxy.ApprovalApproved,
		Warnings: []mcpproxy.Warning{{Kind: "instruction", Field: "description", Detail: "x"}},
	}
	got, err := json.Marshal(describedTool("github:search", tool))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"id":"github:search","server":"github","name":"search","title":"Search","description":"Find things.",` +
		`"input_schema":{"type":"object"},"output_schema":{"type":"object","properties":{"n":{"type":"integer"}}},` +
		`"annotations":{"readOnlyHint":true},"call_with":"call_tool_read"}`
	if string(got) != want {
		t.Errorf("describe_tool's tool:\n got %s\nwant %s", got, want)
	}
	got, _ = json.Marshal(describedTool("s:t", &mcpproxy.Tool{Name: "t"}))
	if want := `{"id":"s:t","server":"s","name":"t","call_with":"call_tool_destructive"}`; string(got) != want {
		t.Errorf("a bare tool:\n got %s\nwant %s", got, want)
	}
}
