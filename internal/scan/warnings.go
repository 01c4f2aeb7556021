package scan

import "github.com/mcpproxy/mcpproxy/internal/mcpproxy"

// Warnings is Tool in the vocabulary's type, for pinning.Options.Scan.
func Warnings(t *mcpproxy.Tool, serverURL string) []mcpproxy.Warning {
	ws := Tool(t, serverURL)
	if len(ws) == 0 {
		return nil
	}
	out := make([]mcpproxy.Warning, len(ws))
	for i, w := range ws {
		out[i] = mcpproxy.Warning{Kind: w.Kind, Field: w.Field, Detail: w.Detail}
	}
	return out
}
