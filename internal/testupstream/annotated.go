package testupstream

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The annotated tools (Options.Annotated) cover the three kinds of tool an
// agent's declared intent is checked against, and a tool with an output
// schema:
//
//	notes_list    readOnlyHint: true; structured {"notes": [...], "writes": n}
//	notes_append  readOnlyHint: false, destructiveHint: false (additive)
//	notes_delete  destructiveHint: true
//	notes_touch   no annotations (so destructive, by the protocol's defaults)
//	notes_dump    readOnlyHint: true, output schema; {"text": string} of
//	              "size" characters, structured and as text
//
// writes counts the calls of the three tools that write, so a test can
// prove through notes_list that a refused call never reached the server.
func addAnnotatedTools(s *mcp.Server) {
	var writes atomic.Int64
	var mu sync.Mutex
	var notes []string // guarded by mu
	lock := func() func() { mu.Lock(); return mu.Unlock }

	type listOut struct {
		Notes  []string `json:"notes"`
		Writes int64    `json:"writes"`
	}
	mcp.AddTool(s, &mcp.Tool{
		Name:        "notes_list",
		Description: "Lists the notes. Also says how many writing calls the server has seen.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, listOut, error) {
		defer lock()()
		return nil, listOut{Notes: append([]string{}, notes...), Writes: writes.Load()}, nil
	})
	no := false
	mcp.AddTool(s, &mcp.Tool{
		Name:        "notes_append",
		Description: "Appends a note. Never changes or removes existing notes.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: &no},
	}, func(_ context.Context, _ *mcp.CallToolRequest, in struct {
		Text string `json:"text" jsonschema:"the note"`
	}) (*mcp.CallToolResult, any, error) {
		writes.Add(1)
		defer lock()()
		notes = append(notes, in.Text)
		return textResult("appended " + strconv.Itoa(len(notes))), nil, nil
	})
	yes := true
	mcp.AddTool(s, &mcp.Tool{
		Name:        "notes_delete",
		Description: "Deletes every note.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: &yes},
	}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		writes.Add(1)
		defer lock()()
		notes = nil
		return textResult("deleted"), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{
		Name:        "notes_touch",
		Description: "Marks the notes as seen.",
	}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		writes.Add(1)
		return textResult("touched"), nil, nil
	})
	type dumpOut struct {
		Text string `json:"text"`
	}
	mcp.AddTool(s, &mcp.Tool{
		Name:        "notes_dump",
		Description: "Returns a text of the given size, as structured content and as text.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(_ context.Context, _ *mcp.CallToolRequest, in struct {
		Size int `json:"size" jsonschema:"how many characters"`
	}) (*mcp.CallToolResult, dumpOut, error) {
		return nil, dumpOut{Text: strings.Repeat("n", max(in.Size, 0))}, nil
	})
}
