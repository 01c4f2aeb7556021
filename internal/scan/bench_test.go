package scan

import (
	"encoding/json"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// benchTool is a typical tool: a few sentences of description and a small
// input schema with described parameters.
var benchTool = mcpproxy.Tool{
	Name:  "search_issues",
	Title: "Search issues",
	Description: "Search for issues and pull requests across GitHub repositories using the issue search syntax. " +
		"Supports qualifiers such as is:open, label:bug, author:octocat and repo:owner/name. Results are sorted " +
		"by best match unless sort is set, and are paginated with page and perPage (at most 100 per page).",
	InputSchema: json.RawMessage(`{
		"$schema": "http://json-schema.org/draft-07/schema#",
		"type": "object",
		"properties": {
			"q": {"type": "string", "description": "Search query using GitHub issue search syntax"},
			"sort": {"type": "string", "enum": ["comments", "reactions", "created", "updated"], "description": "Field to sort by"},
			"order": {"type": "string", "enum": ["asc", "desc"], "description": "Sort direction (default desc)"},
			"page": {"type": "number", "minimum": 1, "description": "Page number for pagination"},
			"perPage": {"type": "number", "minimum": 1, "maximum": 100, "description": "Results per page"}
		},
		"required": ["q"],
		"additionalProperties": false
	}`),
	Annotations: json.RawMessage(`{"title": "Search issues", "readOnlyHint": true, "openWorldHint": true}`),
}

func BenchmarkTool(b *testing.B) {
	b.Run("Typical", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if ws := Tool(&benchTool, "https://api.githubcopilot.com/mcp/"); len(ws) != 0 {
				b.Fatal(ws)
			}
		}
	})
	b.Run("Poisoned", func(b *testing.B) {
		t := benchTool
		t.Description = poisonedDescription
		b.ReportAllocs()
		for b.Loop() {
			if ws := Tool(&t, ""); len(ws) == 0 {
				b.Fatal("no warnings")
			}
		}
	})
}

func BenchmarkText(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Text("description", benignDescriptions[0], "")
	}
}
