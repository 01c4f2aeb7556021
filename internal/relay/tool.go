package relay

import (
	"encoding/json"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ConvertTool turns an SDK tool into the proxy's own, with schemas and
// annotations as raw JSON.
func ConvertTool(t *mcp.Tool) mcpproxy.Tool {
	out := mcpproxy.Tool{Name: t.Name, Title: t.Title, Description: t.Description}
	out.InputSchema = rawJSON(t.InputSchema)
	out.OutputSchema = rawJSON(t.OutputSchema)
	if t.Annotations != nil {
		out.Annotations = rawJSON(t.Annotations)
	}
	return out
}

func rawJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return nil
	}
	return b
}
