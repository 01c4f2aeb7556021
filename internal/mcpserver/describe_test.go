package mcpserver

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func describe(t *testing.T, cs *mcp.ClientSession, ids any) ([]DescribedTool, *mcp.CallToolResult) {
	t.Helper()
	res := call(t, cs, "describe_tool", map[string]any{"ids": ids})
	if res.IsError {
		return nil, res
	}
	var out struct {
		Tools []DescribedTool `json:"tools"`
	}
	if err := json.Unmarshal([]byte(textOf(res)), &out); err != nil {
		t.Fatalf("describe_tool: %v: %s", err, textOf(res))
	}
	return out.Tools, res
}

func TestDescribeTool(t *testing.T) {
	p := notesProxy(t, nil, proxyOptions{})
	cs := p.connect(t, "/mcp", clientOptions{})

	tools, _ := describe(t, cs, []string{"notes:notes_dump", "notes:notes_append", "notes:notes_dump"})
	if len(tools) != 2 {
		t.Fatalf("got %d tools, want 2 (duplicates once): %+v", len(tools), tools)
	}
	dump, app := tools[0], tools[1]
	if dump.ID != "notes:notes_dump" || dump.Server != "notes" || dump.Name != "notes_dump" || dump.CallWith != callRead ||
		!strings.Contains(string(dump.InputSchema), `"size"`) || !strings.Contains(string(dump.OutputSchema), `"text"`) ||
		!strings.Contains(string(dump.Annotations), `"readOnlyHint":true`) || !strings.HasPrefix(dump.Description, "Returns a text") {
		t.Errorf("notes_dump: %+v", dump)
	}
	if app.CallWith != callWrite || !strings.Contains(string(app.InputSchema), `"text"`) {
		t.Errorf("notes_append: %+v", app)
	}

	for _, tc := range []struct {
		name string
		ids  any
		want []string
	}{
		{"Unknown", []string{"notes:notes_lst"}, []string{`unknown tool "notes_lst"`, `did you mean "notes:notes_list"`}},
		{"UnknownServer", []string{"note:notes_list"}, []string{`unknown tool "note:notes_list": no server "note"`, `"notes:notes_list"`}},
		{"NotAnID", []string{"notes_list"}, []string{`ids[0]: want a tool id "server:tool", got "notes_list"`}},
		{"OneBadOfTwo", []string{"notes:notes_list", "notes:nope"}, []string{`ids[1]: unknown tool "nope"`}},
		{"TooMany", []string{"a:1", "a:2", "a:3", "a:4", "a:5", "a:6"}, []string{"argument ids: at most 5 ids per call, got 6"}},
		{"Empty", []string{}, []string{"argument ids: name at least one tool id"}},
		{"String", "notes:notes_list", []string{"argument ids: want an array of tool ids", "got a string"}},
		{"NumberItem", []any{"notes:notes_list", 3}, []string{"argument ids[1]: want a string, got a number"}},
		{"Missing", nil, []string{"argument ids: required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, res := describe(t, cs, tc.ids)
			wantError(t, res, tc.want...)
		})
	}
}

// In compact mode retrieve_tools answers with ids, first sentences,
// scores, annotations and call_with, and no schemas; its description
// (in tools/list) sends the agent to describe_tool.
func TestRetrieveTools_Compact(t *testing.T) {
	for _, mode := range []string{config.ResponseFull, config.ResponseCompact} {
		t.Run(mode, func(t *testing.T) {
			p := notesProxy(t, map[string]any{"tool_response_mode": mode}, proxyOptions{})
			cs := p.connect(t, "/mcp", clientOptions{})
			res := call(t, cs, "retrieve_tools", map[string]any{"query": "notes list"})
			var out struct {
				Tools   []map[string]json.RawMessage `json:"tools"`
				Message string                       `json:"message"`
			}
			if err := json.Unmarshal([]byte(textOf(res)), &out); err != nil || len(out.Tools) == 0 {
				t.Fatalf("retrieve_tools: %v: %s", err, textOf(res))
			}
			var desc string
			lt, err := cs.ListTools(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, tool := range lt.Tools {
				if tool.Name == "retrieve_tools" {
					desc = tool.Description
				}
			}
			for _, hit := range out.Tools {
				_, hasSchema := hit["input_schema"]
				_, hasName := hit["name"]
				if hasSchema != (mode == config.ResponseFull) || hasName != (mode == config.ResponseFull) {
					t.Errorf("%s hit has input_schema %v, name %v: %v", mode, hasSchema, hasName, hit)
				}
				for _, k := range []string{"id", "score", "call_with"} {
					if _, ok := hit[k]; !ok {
						t.Errorf("%s hit without %s: %v", mode, k, hit)
					}
				}
			}
			compact := mode == config.ResponseCompact
			if strings.Contains(desc, "describe_tool") != compact || strings.Contains(out.Message, "describe_tool") != compact {
				t.Errorf("%s: description %q, message %q", mode, desc, out.Message)
			}
			if compact {
				for _, hit := range out.Tools {
					if string(hit["id"]) == `"notes:notes_list"` && string(hit["description"]) != `"Lists the notes."` {
						t.Errorf("compact description %s, want the first sentence", hit["description"])
					}
				}
			}
		})
	}
}

func TestFirstSentence(t *testing.T) {
	for in, want := range map[string]string{
		"Lists the notes. Also more.": "Lists the notes.",
		"Version 1.2 of it. Then":     "Version 1.2 of it.",
		"First line\nsecond line":     "First line",
		"  No end  ":                  "No end",
		"Is it? Yes.":                 "Is it?",
		strings.Repeat("é", 300):      strings.Repeat("é", 199) + "…",
		"":                            "",
	} {
		if got := firstSentence(in); got != want {
			t.Errorf("firstSentence(%q) = %q, want %q", in, got, want)
		}
	}
}
