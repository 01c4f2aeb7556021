package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
)

func (a *app) toolsCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "tools",
		Short:   "Search, list and call the upstream servers' tools",
		Example: "  mcpproxy tools search \"create an issue\"\n  mcpproxy tools call everything:echo --args '{\"message\":\"hi\"}'",
	})
	cmd.AddCommand(a.toolsSearchCmd(), a.toolsListCmd(), a.toolsCallCmd(), a.toolsPreflightCmd())
	return cmd
}

func (a *app) toolsSearchCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "search QUERY...",
		Short: "Find tools by what they do (BM25 search over names, descriptions and parameters)",
		Long: `Search the tools of every ready, approved server, the same search agents get
with retrieve_tools. The words of QUERY may be given as separate arguments.`,
		Example: "  mcpproxy tools search read file\n  mcpproxy tools search \"create an issue\" --limit 5 -o json",
		Args:    args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if limit < 0 {
				return usageError("--limit: want a positive number, got %d", limit)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			found, err := c.SearchTools(cmd.Context(), strings.Join(argv, " "), limit)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if a.json() {
				return printJSON(w, found)
			}
			if len(found) == 0 {
				fmt.Fprintln(w, "No tools matched.")
				return nil
			}
			t := newTable(w, "TOOL", "SCORE", "CALL WITH", "DESCRIPTION")
			for _, f := range found {
				t.row(f.ID, strconv.FormatFloat(f.Score, 'f', 2, 64), f.CallWith, truncate(f.Description, 80))
			}
			return t.flush()
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "most results (default: the config's tools_limit)")
	return cmd
}

// serverTool is one tool of one server, as tools list -o json prints it.
type serverTool struct {
	Server string `json:"server"`
	apiv1.ToolView
}

func (a *app) toolsListCmd() *cobra.Command {
	var server string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the tools of every server, or of one, with their approval",
		Example: "  mcpproxy tools list\n  mcpproxy tools list --server github -o json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			names := []string{server}
			if server == "" {
				list, err := c.Servers(ctx, "")
				if err != nil {
					return err
				}
				names = names[:0]
				for _, s := range list {
					names = append(names, s.Name)
				}
			}
			tools := []serverTool{}
			for _, name := range names {
				tv, err := c.ServerTools(ctx, name)
				if err != nil {
					return err
				}
				for _, t := range tv {
					tools = append(tools, serverTool{Server: name, ToolView: t})
				}
			}
			w := cmd.OutOrStdout()
			if a.json() {
				return printJSON(w, tools)
			}
			if len(tools) == 0 {
				fmt.Fprintln(w, "No tools listed (a server lists its tools once it is ready).")
				return nil
			}
			t := newTable(w, "TOOL", "APPROVAL", "WARNINGS", "DESCRIPTION")
			for _, tl := range tools {
				t.row(tl.Server+":"+tl.Name, string(tl.Approval), warningCount(len(tl.Warnings)), truncate(tl.Description, 70))
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "only this server's tools")
	return cmd
}

func warningCount(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func (a *app) toolsCallCmd() *cobra.Command {
	var argsJSON string
	cmd := &cobra.Command{
		Use:   "call SERVER:TOOL",
		Short: "Call one tool of one server and print its result",
		Long: `Call a tool through the daemon's pass-through MCP endpoint of its server
(/mcp/server/SERVER), as an MCP client named "mcpproxy-cli", and print the
result's text content (-o json: the whole MCP result). The call is recorded
in the activity log. A result the tool marks as an error exits with status 1.`,
		Example: "  mcpproxy tools call everything:echo --args '{\"message\":\"hello\"}'\n  mcpproxy tools call github:get_me -o json",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			server, tool, ok := strings.Cut(argv[0], ":")
			if !ok || server == "" || tool == "" {
				return usageError("tools call: want SERVER:TOOL, got %q", argv[0])
			}
			var raw json.RawMessage
			if argsJSON != "" {
				var obj map[string]any
				if err := json.Unmarshal([]byte(argsJSON), &obj); err != nil || obj == nil {
					return usageError("--args: want a JSON object, such as '{\"message\":\"hi\"}', got %q", argsJSON)
				}
				raw = json.RawMessage(argsJSON)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			res, err := c.CallTool(cmd.Context(), server, tool, raw, version)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if a.json() {
				if err := printJSON(w, res); err != nil {
					return err
				}
				if res.IsError {
					return &exitError{1, fmt.Errorf("%s: the tool reported an error", argv[0])}
				}
				return nil
			}
			text := resultText(res)
			if res.IsError {
				return &exitError{1, fmt.Errorf("%s: %s", argv[0], text)}
			}
			_, err = io.WriteString(w, text+"\n")
			return err
		},
	}
	cmd.Flags().StringVar(&argsJSON, "args", "", "the tool's arguments as a JSON object")
	return cmd
}

// resultText renders a tool result for a terminal: text content as is,
// other content described, structured content as JSON when there is no
// text.
func resultText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			parts = append(parts, c.Text)
		case *mcp.ImageContent:
			parts = append(parts, fmt.Sprintf("[image %s, %d bytes]", c.MIMEType, len(c.Data)))
		case *mcp.AudioContent:
			parts = append(parts, fmt.Sprintf("[audio %s, %d bytes]", c.MIMEType, len(c.Data)))
		case *mcp.ResourceLink:
			parts = append(parts, fmt.Sprintf("[resource %s]", c.URI))
		case *mcp.EmbeddedResource:
			if c.Resource != nil && c.Resource.Text != "" {
				parts = append(parts, c.Resource.Text)
			} else if c.Resource != nil {
				parts = append(parts, fmt.Sprintf("[resource %s, %d bytes]", c.Resource.URI, len(c.Resource.Blob)))
			}
		}
	}
	if len(parts) == 0 && res.StructuredContent != nil {
		if b, err := json.MarshalIndent(res.StructuredContent, "", "  "); err == nil {
			return string(b)
		}
	}
	return strings.Join(parts, "\n")
}
