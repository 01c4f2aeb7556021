package upstream

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// encodeCall encodes a tools/call request of mcpproxy's own, numbered from
// next, and returns its id.
func encodeCall(next *atomic.Uint64, params *mcp.CallToolParams) (id string, body []byte, err error) {
	if params.Arguments == nil {
		params.Arguments = map[string]any{} // as the SDK sends it
	}
	id = leanPrefix + strconv.FormatUint(next.Add(1), 10)
	body, err = json.Marshal(&leanRequest{JSONRPC: "2.0", ID: id, Method: "tools/call", Params: params})
	if err != nil {
		return "", nil, fmt.Errorf("encode tools/call: %w", err)
	}
	return id, body, nil
}

// cancelNotice encodes the notifications/cancelled of one of mcpproxy's own
// requests.
func cancelNotice(id, reason string) []byte {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": "notifications/cancelled",
		"params": map[string]any{"requestId": id, "reason": reason}})
	return b
}

// leanResult is a tools/call result as decoded without the SDK: what nearly
// every tool returns, text content and perhaps structured content.
type leanResult struct {
	Meta              mcp.Meta        `json:"_meta,omitempty"`
	Content           []leanContent   `json:"content"`
	StructuredContent any             `json:"structuredContent,omitempty"`
	IsError           bool            `json:"isError,omitempty"`
	InputRequests     json.RawMessage `json:"inputRequests,omitempty"`
	RequestState      string          `json:"requestState,omitempty"`
	ResultType        string          `json:"resultType,omitempty"`
}

type leanContent struct {
	Type        string           `json:"type"`
	Text        string           `json:"text"`
	Meta        mcp.Meta         `json:"_meta,omitempty"`
	Annotations *mcp.Annotations `json:"annotations,omitempty"`
}

// decodeCallResult decodes a tools/call result. Text content, the common
// case, is decoded here with encoding/json; anything else (images,
// resources, a result asking for more input) by the SDK, which knows every
// content type. Both ignore fields they do not know, so the outcome is the
// same either way.
func decodeCallResult(raw json.RawMessage) (*mcp.CallToolResult, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, fmt.Errorf("tools/call: the upstream's response has no result")
	}
	var w leanResult
	if err := json.Unmarshal(raw, &w); err == nil && w.simple() {
		return w.callToolResult(), nil
	}
	var res mcp.CallToolResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("tools/call: decode the upstream's result: %w", err)
	}
	return &res, nil
}

// callToolResult converts a simple result.
func (w *leanResult) callToolResult() *mcp.CallToolResult {
	res := &mcp.CallToolResult{Meta: w.Meta, StructuredContent: w.StructuredContent, IsError: w.IsError,
		Content: make([]mcp.Content, len(w.Content))}
	for i := range w.Content {
		c := &w.Content[i]
		res.Content[i] = &mcp.TextContent{Text: c.Text, Meta: c.Meta, Annotations: c.Annotations}
	}
	return res
}

// simple reports whether w holds only what leanResult decodes completely.
func (w *leanResult) simple() bool {
	if len(w.InputRequests) > 0 && string(w.InputRequests) != "null" || w.RequestState != "" ||
		w.ResultType != "" && w.ResultType != "complete" {
		return false
	}
	for i := range w.Content {
		if w.Content[i].Type != "text" {
			return false
		}
	}
	return true
}
