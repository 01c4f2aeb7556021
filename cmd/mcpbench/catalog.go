package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The search scenario indexes tools that look like those of real servers:
// each catalog server stands for one product (GitHub, Slack, Stripe, …) and
// lists verb_noun tools with a sentence or two of description and a few
// described parameters, so that BM25 has varied terms and document lengths
// to work with, as it has in practice. Everything is derived from the
// server's number, so every run indexes the same text.

var products = []string{
	"github", "gitlab", "jira", "linear", "slack", "discord", "gmail", "outlook",
	"gdrive", "dropbox", "notion", "confluence", "postgres", "mysql", "mongodb", "redis",
	"stripe", "paypal", "salesforce", "hubspot", "zendesk", "intercom", "shopify", "sentry",
	"datadog", "pagerduty", "kubernetes", "docker", "aws_s3", "aws_ec2", "gcp_storage", "azure_blob",
	"calendar", "figma", "trello", "asana", "airtable", "twilio", "sendgrid", "cloudflare",
}

var verbs = []string{
	"get", "list", "create", "update", "delete", "search", "find", "fetch", "send", "read",
	"write", "sync", "export", "import", "archive", "merge", "close", "open", "assign", "schedule",
	"query", "upload", "download", "restart", "cancel", "refund", "approve", "comment_on", "tag", "move",
}

var nouns = []string{
	"issue", "pull_request", "repository", "branch", "commit", "file", "folder", "calendar_event",
	"email", "message", "channel", "user", "team", "invoice", "customer", "order",
	"payment", "subscription", "ticket", "document", "page", "database", "table", "row",
	"dashboard", "alert", "incident", "deployment", "pod", "bucket", "object", "secret",
	"webhook", "label", "milestone", "project", "task", "contact", "lead", "report",
}

var qualifiers = []string{
	"by id", "by name", "in bulk", "for the current user", "with filters", "across workspaces",
	"from the archive", "with pagination", "as CSV", "as JSON", "by date range", "by owner",
}

var filler = []string{
	"Returns the matching records with their identifiers and timestamps.",
	"Requires write access to the workspace.",
	"Results are sorted by most recent first.",
	"Use this when the user refers to an existing item.",
	"Fails if the item does not exist or was deleted.",
	"Supports cursor based pagination through the next_cursor field.",
	"Rate limited to 100 requests per minute per token.",
	"The change is visible to every member of the project.",
	"Only administrators can perform this operation on shared resources.",
	"Large responses are truncated; narrow the query with filters.",
	"Sends a notification to the owner and watchers.",
	"Times are given in UTC, formatted as RFC 3339.",
}

var params = []struct{ name, desc string }{
	{"id", "identifier of the item"}, {"name", "human readable name"}, {"query", "free text to match"},
	{"owner", "user or organisation that owns it"}, {"limit", "maximum number of results"},
	{"cursor", "pagination cursor from a previous call"}, {"since", "only items changed after this time"},
	{"status", "state to filter by, such as open or closed"}, {"body", "text content in Markdown"},
	{"recipients", "email addresses or user ids to notify"}, {"labels", "labels to attach"},
	{"path", "path of the file or folder"}, {"amount", "amount in the smallest currency unit"},
	{"due_date", "date by which it is due"}, {"priority", "priority from 1 (urgent) to 4 (low)"},
}

// catalogTool is one generated tool.
type catalogTool struct {
	Name, Description string
	Schema            json.RawMessage
}

// catalogTools returns n tools for catalog server i, with distinct names.
func catalogTools(i, n int) []catalogTool {
	rng := rand.New(rand.NewPCG(uint64(i), 0x6d6370))
	product := products[i%len(products)]
	seen := make(map[string]bool, n)
	tools := make([]catalogTool, 0, n)
	for k := 0; len(tools) < n; k++ {
		verb, noun := verbs[rng.IntN(len(verbs))], nouns[rng.IntN(len(nouns))]
		name := verb + "_" + noun
		if seen[name] {
			name = fmt.Sprintf("%s_%s_v%d", verb, noun, k)
		}
		seen[name] = true
		var d strings.Builder
		fmt.Fprintf(&d, "%s %s %s in %s %s.", strings.ToUpper(verb[:1])+strings.ReplaceAll(verb[1:], "_", " "),
			article(noun), strings.ReplaceAll(noun, "_", " "), product, qualifiers[rng.IntN(len(qualifiers))])
		for range 1 + rng.IntN(3) {
			d.WriteString(" " + filler[rng.IntN(len(filler))])
		}
		props := map[string]any{}
		var required []string
		for j := range 2 + rng.IntN(3) {
			p := params[rng.IntN(len(params))]
			props[p.name] = map[string]any{"type": "string", "description": p.desc}
			if j == 0 {
				required = append(required, p.name)
			}
		}
		schema, _ := json.Marshal(map[string]any{"type": "object", "properties": props, "required": required})
		tools = append(tools, catalogTool{Name: name, Description: d.String(), Schema: schema})
	}
	return tools
}

func article(noun string) string {
	if strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an"
	}
	return "a"
}

// searchQueries are what an agent might ask retrieve_tools, in turn.
var searchQueries = []string{
	"create a github issue",
	"send a slack message to a channel",
	"list open pull requests by owner",
	"query postgres table rows",
	"refund a stripe payment",
	"schedule a calendar event",
	"upload a file to an aws_s3 bucket",
	"restart a kubernetes deployment",
	"search email in gmail",
	"find a customer by name in salesforce",
	"close a jira ticket",
	"export a datadog dashboard as CSV",
}

// newCatalogServer returns an MCP server listing catalog server i's n tools;
// each answers with its arguments.
func newCatalogServer(i, n int) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: products[i%len(products)], Version: "1.0.0"}, &mcp.ServerOptions{
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}},
	})
	for _, t := range catalogTools(i, n) {
		addCatalogTool(s, t)
	}
	return s
}

// addCatalogTool adds (or replaces) t on s; it answers with its arguments.
func addCatalogTool(s *mcp.Server, t catalogTool) {
	s.AddTool(&mcp.Tool{Name: t.Name, Description: t.Description, InputSchema: t.Schema},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(req.Params.Arguments)}}}, nil
		})
}
