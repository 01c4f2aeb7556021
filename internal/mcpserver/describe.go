package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/token"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// maxDescribe is how many tools one describe_tool call may name: enough
// for a step of a task, few enough that the answer stays small.
const maxDescribe = 5

func (s *Server) addDescribeTool() {
	s.smart.AddTool(&mcp.Tool{
		Name: "describe_tool",
		Description: fmt.Sprintf("The full definition of up to %d tools you are about to call (ids \"server:tool\" from retrieve_tools): "+
			"description, input schema, output schema, annotations, and call_with, the call variant that reaches it.", maxDescribe),
		InputSchema: json.RawMessage(fmt.Sprintf(`{"type":"object","properties":{
			"ids":{"type":"array","items":{"type":"string"},"minItems":1,"maxItems":%d,"description":"Tool ids: server:tool"}},
			"required":["ids"]}`, maxDescribe)),
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, s.describeTool)
}

// DescribedTool is one tool of describe_tool's answer: the tool's
// definition, with its id, server and call variant. Its fingerprint,
// approval and warnings are left empty (see describedTool), so that they
// are not encoded.
type DescribedTool struct {
	ID     string `json:"id"`
	Server string `json:"server"`
	mcpproxy.Tool
	CallWith string `json:"call_with"`
}

// describedTool is describe_tool's answer for the tool t of id.
func describedTool(id string, t *mcpproxy.Tool) DescribedTool {
	server, _, _ := splitID(id, ":")
	d := DescribedTool{ID: id, Server: server, Tool: *t, CallWith: effectOf(t.Annotations).callWith()}
	d.Fingerprint, d.Approval, d.Warnings = "", "", nil
	return d
}

func (s *Server) describeTool(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var in struct {
		IDs json.RawMessage `json:"ids"`
	}
	if err := decodeArgs(req.Params.Arguments, &in); err != nil {
		return errorResult("%v", err), nil
	}
	var ids []json.RawMessage
	switch {
	case len(in.IDs) == 0 || string(in.IDs) == "null":
		return errorResult("argument ids: required: an array of 1 to %d tool ids (\"server:tool\")", maxDescribe), nil
	case json.Unmarshal(in.IDs, &ids) != nil:
		return errorResult("argument ids: want an array of tool ids (\"server:tool\"), got %s", jsonKind(in.IDs)), nil
	case len(ids) == 0:
		return errorResult("argument ids: name at least one tool id (\"server:tool\")"), nil
	case len(ids) > maxDescribe:
		return errorResult("argument ids: at most %d ids per call, got %d; ask for the rest in another call", maxDescribe, len(ids)), nil
	}
	snap := s.b.View().Load()
	tok := callerToken(ctx)
	var out []DescribedTool
	var problems []string
	seen := map[string]bool{}
	for i, raw := range ids {
		var id string
		if json.Unmarshal(raw, &id) != nil {
			problems = append(problems, fmt.Sprintf("argument ids[%d]: want a string, got %s", i, jsonKind(raw)))
			continue
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		t, err := lookupTool(snap, tok, id)
		if err != nil {
			problems = append(problems, fmt.Sprintf("ids[%d]: %s", i, mcpproxy.ErrorMessage(err)))
			continue
		}
		out = append(out, describedTool(id, t))
	}
	if len(problems) > 0 {
		return errorResult("%s", strings.Join(problems, "\n")), nil
	}
	return jsonResult(map[string]any{"tools": out}), nil
}

// lookupTool finds an approved tool the caller may use by its id
// ("server:tool"), without asking its upstream; the error says why not,
// with the closest ids when it is unknown.
func lookupTool(snap *stateview.Snapshot, tok *token.Token, id string) (*mcpproxy.Tool, error) {
	server, tool, ok := splitID(id, ":")
	if !ok {
		return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "want a tool id \"server:tool\", got %q%s", id, closestHint(id, usableIDs(snap, tok), ""))
	}
	if err := allowCall(tok, server, nil, tool); err != nil {
		return nil, err
	}
	srv := snap.Get(server)
	switch {
	case srv == nil:
		return nil, mcpproxy.Errorf(mcpproxy.ENOTFOUND, "unknown tool %q: no server %q%s", id, server, closestHint(id, usableIDs(snap, tok), ""))
	case srv.Quarantined:
		return nil, mcpproxy.Errorf(mcpproxy.EFORBIDDEN, "server %q is quarantined: a person must approve it first", server)
	case findTool(srv, tool) == nil && srv.State != mcpproxy.StateReady:
		_, err := serverReady(snap, server)
		return nil, err
	}
	if err := toolUsable(srv, tool, ":"); err != nil {
		return nil, err
	}
	if err := allowCall(tok, server, srv, tool); err != nil {
		return nil, err
	}
	return findTool(srv, tool), nil
}

// usableIDs lists the ids of every approved tool the caller may use, for
// closest-match hints.
func usableIDs(snap *stateview.Snapshot, tok *token.Token) []string {
	var ids []string
	for srv := range snap.All() {
		if srv.Quarantined || tok != nil && !tok.AllowsServer(srv.Name) {
			continue
		}
		for i := range srv.Tools {
			if t := &srv.Tools[i]; t.Usable() && (tok == nil || tok.AllowsTool(srv.Name, t.Annotations)) {
				ids = append(ids, srv.Name+":"+t.Name)
			}
		}
	}
	return ids
}

// CompactTool is one retrieve_tools hit in compact mode: enough to choose,
// not to call; describe_tool gives the schemas.
type CompactTool struct {
	ID          string          `json:"id"`
	Description string          `json:"description,omitempty"`
	Score       float64         `json:"score"`
	Annotations json.RawMessage `json:"annotations,omitempty"`
	CallWith    string          `json:"call_with"`
}

// maxSentence bounds the one-line description of a compact hit.
const maxSentence = 200

// firstSentence returns the first sentence of a description, on one line
// and at most maxSentence characters long.
func firstSentence(d string) string {
	d = strings.TrimSpace(d)
	if i := strings.IndexAny(d, "\r\n"); i >= 0 {
		d = strings.TrimSpace(d[:i])
	}
	for i := 0; i < len(d); i++ {
		if (d[i] == '.' || d[i] == '!' || d[i] == '?') && (i+1 == len(d) || d[i+1] == ' ') {
			d = d[:i+1]
			break
		}
	}
	if utf8.RuneCountInString(d) > maxSentence {
		d = string([]rune(d)[:maxSentence-1]) + "…"
	}
	return d
}

// retrieveToolsDescription is retrieve_tools' description in a mode.
func retrieveToolsDescription(mode string) string {
	if mode == config.ResponseCompact {
		return "Search the tools of all connected MCP servers (BM25 over names, descriptions and parameters). " +
			"Returns the best matches, best first, each with its id (\"server:tool\"), the first sentence of its description, its annotations and call_with " +
			"(the call variant that reaches it), but no schemas: call describe_tool with the ids you mean to use for their input schemas, " +
			"then call them with call_with."
	}
	return "Search the tools of all connected MCP servers (BM25 over names, descriptions and parameters). " +
		"Returns the best matches, best first, each with its id (\"server:tool\"), description, input schema and call_with " +
		"(the call variant that reaches it: call_tool_read, call_tool_write or call_tool_destructive). " +
		"Call this first, then the call_with variant (or call_tool) with one of the ids."
}
