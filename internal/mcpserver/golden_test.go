package mcpserver

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/golden"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
)

// TestGolden_ToolsList holds in testdata/tools_list.txtar what each MCP
// endpoint lists (the built-in tools with their generated schemas, the
// direct mode's ids, the pass-through's upstream tools) and what a tool
// search answers (REST's GET /api/v1/tools/search serves the same hits):
// a change of the wire is a diff there.
func TestGolden_ToolsList(t *testing.T) {
	p := newProxy(t, proxyOptions{Store: true, Servers: []map[string]any{
		streamable(t, "alpha", testupstream.Options{Annotated: true}, nil),
	}})
	p.waitCatalog(t, "alpha")
	ctx := context.Background()
	var files []golden.File
	for _, path := range []string{"/mcp", "/mcp/all", "/mcp/server/alpha"} {
		res, err := p.connect(t, path, clientOptions{}).ListTools(ctx, nil)
		if err != nil {
			t.Fatalf("%s: tools/list: %v", path, err)
		}
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, golden.File{Name: "tools/list " + path, JSON: b})
	}
	found, err := p.srv.Search(ctx, "echo a message", 3)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(found)
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, golden.File{Name: "search echo a message (GET /api/v1/tools/search data)", JSON: b})
	golden.Check(t, "testdata/tools_list.txtar", "tools/list on each MCP endpoint of a proxy with a result cache and one upstream (alpha, with the annotated tools), and a tool search.", files...)
}
