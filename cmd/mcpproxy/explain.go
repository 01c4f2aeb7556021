package main

import (
	"context"

	"github.com/mcpproxy/mcpproxy/internal/index"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// explainedTool is one hit of GET /api/v1/tools/search?explain=1.
type explainedTool struct {
	ID          string             `json:"id"`
	Server      string             `json:"server"`
	Name        string             `json:"name"`
	Description string             `json:"description,omitempty"`
	Score       float64            `json:"score"`
	Why         *index.Explanation `json:"why"`
}

// maxExplainLimit bounds an explained search, as retrieve_tools bounds its.
const maxExplainLimit = 100

// explainSearch runs the search retrieve_tools runs, with each hit's
// explanation; limit <= 0 uses defaultLimit.
func explainSearch(ctx context.Context, idx *index.Index, q string, limit, defaultLimit int) ([]explainedTool, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	if limit > maxExplainLimit {
		return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "limit: at most %d, got %d", maxExplainLimit, limit)
	}
	hits, err := idx.SearchExplained(ctx, q, limit)
	if err != nil {
		return nil, err
	}
	out := make([]explainedTool, len(hits))
	for i, h := range hits {
		out[i] = explainedTool{ID: h.ID(), Server: h.Server, Name: h.Tool.Name, Description: h.Tool.Description, Score: h.Score, Why: h.Why}
	}
	return out, nil
}
