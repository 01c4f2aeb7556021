package testupstream

import (
	"context"
	"fmt"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ProgressSink records the progress notifications a function is given,
// for tests of progress routing.
type ProgressSink struct {
	mu  sync.Mutex
	got []*mcp.ProgressNotificationParams
}

// Fn records p.
func (s *ProgressSink) Fn(_ context.Context, p *mcp.ProgressNotificationParams) {
	s.mu.Lock()
	s.got = append(s.got, p)
	s.mu.Unlock()
}

// Steps returns "token progress message" for each notification received.
func (s *ProgressSink) Steps() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.got {
		out = append(out, fmt.Sprintf("%v %v %s", p.ProgressToken, p.Progress, p.Message))
	}
	return out
}

// ProgressParams is a progress notification of token tok (total 3).
func ProgressParams(tok any, progress float64, msg string) *mcp.ProgressNotificationParams {
	return &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: progress, Total: 3, Message: msg}
}
