package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The call variants: call_tool with the agent's declared intent, each
// reaching only the tools whose annotations fit it.
const (
	callRead        = "call_tool_read"
	callWrite       = "call_tool_write"
	callDestructive = "call_tool_destructive"
)

// isCallTool reports whether name is call_tool or one of its variants.
func isCallTool(name string) bool {
	switch name {
	case "call_tool", callRead, callWrite, callDestructive:
		return true
	}
	return false
}

// effect is what a tool's annotations say it does to its environment.
type effect int

const (
	effectRead        effect = iota // readOnlyHint: true
	effectWrite                     // not read-only, destructiveHint: false
	effectDestructive               // anything else
)

// effectOf reads a tool's annotations with the protocol's defaults:
// readOnlyHint false, and destructiveHint true (which counts only when the
// tool is not read-only). So a tool without annotations, or with
// annotations that cannot be read, is destructive.
func effectOf(annotations json.RawMessage) effect {
	var a struct {
		ReadOnly    *bool `json:"readOnlyHint"`
		Destructive *bool `json:"destructiveHint"`
	}
	if len(annotations) > 0 && json.Unmarshal(annotations, &a) != nil {
		return effectDestructive
	}
	switch {
	case a.ReadOnly != nil && *a.ReadOnly:
		return effectRead
	case a.Destructive != nil && !*a.Destructive:
		return effectWrite
	}
	return effectDestructive
}

// effectOfTool is effectOf for a tool as the SDK holds it.
func effectOfTool(t *mcp.Tool) effect {
	switch a := t.Annotations; {
	case a == nil:
		return effectDestructive
	case a.ReadOnlyHint:
		return effectRead
	case a.DestructiveHint != nil && !*a.DestructiveHint:
		return effectWrite
	}
	return effectDestructive
}

// hideBlocked drops from tools those block_destructive_agent_calls refuses.
func hideBlocked(cfg *config.Config, tools []*mcp.Tool) []*mcp.Tool {
	if !cfg.BlockDestructiveAgentCalls {
		return tools
	}
	out := make([]*mcp.Tool, 0, len(tools))
	for _, t := range tools {
		if effectOfTool(t) != effectDestructive {
			out = append(out, t)
		}
	}
	return out
}

// callWith is the narrowest call variant that reaches a tool of effect e.
func (e effect) callWith() string {
	switch e {
	case effectRead:
		return callRead
	case effectWrite:
		return callWrite
	}
	return callDestructive
}

// reaches reports whether a call through variant may reach a tool of
// effect e.
func reaches(variant string, e effect) bool {
	switch variant {
	case callRead:
		return e == effectRead
	case callWrite:
		return e <= effectWrite
	}
	return true
}

// callIntent is what an agent declared with a call variant.
type callIntent struct {
	variant string
	reason  string
}

// describeAnnotations shows a tool's annotations in a refusal.
func describeAnnotations(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "none (so, by the MCP defaults, it may be destructive)"
	}
	return string(raw)
}

// findTool returns the named tool of srv, or nil.
func findTool(srv *stateview.Server, name string) *mcpproxy.Tool {
	for i := range srv.Tools {
		if srv.Tools[i].Name == name {
			return &srv.Tools[i]
		}
	}
	return nil
}

// checkIntent says why a call of tool on srv, declared with in (nil for a
// plain call), is refused by the tool's annotations or the intent policy,
// or nil. smart is true for calls on /mcp, the only endpoint with
// call_tool and its variants. The tool is known and approved.
func checkIntent(cfg *config.Config, in *callIntent, smart bool, srv *stateview.Server, tool, sep string) error {
	if in == nil && !cfg.RequireIntent && !cfg.BlockDestructiveAgentCalls {
		return nil // a plain call with no policy: nothing to check, nothing to decode
	}
	t := findTool(srv, tool)
	if t == nil {
		return nil // toolUsable refused it already
	}
	id := srv.Name + sep + tool
	e := effectOf(t.Annotations)
	switch {
	case in == nil && smart && cfg.RequireIntent:
		return mcpproxy.Errorf(mcpproxy.EFORBIDDEN, "call_tool is turned off by this proxy's require_intent setting: call %s with %s "+
			"(the same arguments plus intent {\"reason\": \"…\"}), the narrowest of call_tool_read, call_tool_write and call_tool_destructive "+
			"that its annotations allow", id, e.callWith())
	case in != nil && in.variant == callDestructive && cfg.BlockDestructiveAgentCalls:
		msg := "call_tool_destructive is turned off by this proxy's block_destructive_agent_calls setting; " + id + " was not called"
		if e != effectDestructive {
			msg += "; it fits " + e.callWith()
		}
		return mcpproxy.Errorf(mcpproxy.EFORBIDDEN, "%s", msg)
	case e == effectDestructive && cfg.BlockDestructiveAgentCalls:
		return mcpproxy.Errorf(mcpproxy.EFORBIDDEN, "tool %s may be destructive (annotations: %s), and this proxy's "+
			"block_destructive_agent_calls setting refuses such calls from agents; it was not called", id, describeAnnotations(t.Annotations))
	case in != nil && !reaches(in.variant, e):
		return mcpproxy.Errorf(mcpproxy.EFORBIDDEN, "%s refused: tool %s %s (annotations: %s); it was not called. "+
			"If you mean to call it, use %s", in.variant, id, effectWords(e), describeAnnotations(t.Annotations), e.callWith())
	}
	return nil
}

// effectWords says what a tool of effect e may do, in a refusal.
func effectWords(e effect) string {
	switch e {
	case effectRead:
		return "is read-only"
	case effectWrite:
		return "may change things: it is not annotated readOnlyHint: true"
	}
	return "may be destructive: it is annotated neither readOnlyHint: true nor destructiveHint: false"
}

// callSchema is the input schema of call_tool, and of its variants with
// the intent.
func callSchema(intent bool) json.RawMessage {
	props := `"name":{"type":"string","description":"Tool id: server:tool"},
		"args":{"type":"object","description":"Arguments matching the tool's input schema"},
		"args_json":{"type":"string","description":"Arguments as a JSON object string, if you cannot pass an object"}`
	required := `"name"`
	if intent {
		props += `,
		"intent":{"type":"object","description":"What you mean to do","properties":{
			"reason":{"type":"string","description":"Why you call this tool, in a sentence (recorded in the proxy's activity log)"}},
			"required":["reason"]}`
		required += `,"intent"`
	}
	return json.RawMessage(`{"type":"object","properties":{` + props + `},"required":[` + required + `]}`)
}

func (s *Server) addCallVariants() {
	no := false
	for _, v := range []struct {
		name, what  string
		annotations *mcp.ToolAnnotations
	}{
		{callRead, "Call a read-only tool of an upstream MCP server by its id (\"server:tool\"): it reaches only tools annotated readOnlyHint: true.",
			&mcp.ToolAnnotations{ReadOnlyHint: true}},
		{callWrite, "Call a tool of an upstream MCP server that may change things but destroys nothing, by its id (\"server:tool\"): " +
			"it reaches tools annotated readOnlyHint: true or destructiveHint: false.", &mcp.ToolAnnotations{DestructiveHint: &no}},
		{callDestructive, "Call any tool of an upstream MCP server by its id (\"server:tool\"), including tools that may delete or overwrite " +
			"(annotated destructiveHint: true, or not annotated: by the MCP defaults such a tool may be destructive).", nil},
	} {
		s.smart.AddTool(&mcp.Tool{
			Name: v.name,
			Description: v.what + " Say why in intent.reason. A tool the variant does not reach is refused without being called; " +
				"retrieve_tools and describe_tool name the variant that fits each tool (call_with).",
			InputSchema: callSchema(true),
			Annotations: v.annotations,
		}, s.callVariant(v.name))
	}
}

// callVariant is the handler of a call variant.
func (s *Server) callVariant(variant string) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return s.callToolAs(ctx, req, variant), nil
	}
}

// decodeIntent reads the intent argument of a call variant.
func decodeIntent(raw json.RawMessage, variant string) (*callIntent, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, fmt.Errorf("argument intent: required for %s: an object {\"reason\": \"why you call this tool\"}", variant)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return nil, fmt.Errorf("argument intent: want an object {\"reason\": \"…\"}, got %s", jsonKind(raw))
	}
	var reason string
	if r, ok := obj["reason"]; !ok || string(r) == "null" {
		return nil, fmt.Errorf("argument intent.reason: required: why you call this tool, in a sentence")
	} else if json.Unmarshal(r, &reason) != nil {
		return nil, fmt.Errorf("argument intent.reason: want a string, got %s", jsonKind(r))
	}
	if strings.TrimSpace(reason) == "" {
		return nil, fmt.Errorf("argument intent.reason: must not be empty")
	}
	return &callIntent{variant: variant, reason: reason}, nil
}

// jsonKind names the JSON type of a value, for errors.
func jsonKind(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return "invalid JSON"
	}
	switch v.(type) {
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "null"
}
