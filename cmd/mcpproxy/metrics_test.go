package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
)

// TestServe_Metrics: /metrics is served without a key on loopback, counts
// requests by route, and shows the upstreams' state and connect failures.
func TestServe_Metrics(t *testing.T) {
	p := startProxy(t, configJSON(t, []map[string]any{
		stdio("good", testupstream.ModeOK),
		{"name": "broken", "command": "/nonexistent/mcpproxy-test-command"},
	}))
	tools := p.waitState(t, "good", 15*time.Second, "ready").ToolCount
	p.waitState(t, "broken", 15*time.Second, "error")
	p.data(t, "GET", "/api/v1/status", nil)
	p.request(t, "GET", "/api/v1/servers/ghost", p.Key)

	code, body := p.request(t, "GET", "/metrics", "")
	if code != 200 {
		t.Fatalf("GET /metrics on loopback without key = %d %s, want 200", code, body)
	}
	for _, want := range []string{
		`mcpproxy_http_requests_total{code="200",route="/api/v1/"} 1`,
		`mcpproxy_http_requests_total{code="404",route="/api/v1/"} 1`,
		`mcpproxy_servers{state="ready"} 1`,
		`mcpproxy_servers{state="error"} 1`,
		`mcpproxy_upstream_connect_attempts_total{server="good"} 1`,
		`mcpproxy_upstream_connect_failures_total{server="broken"} `, // it retries
		fmt.Sprintf("mcpproxy_tools_usable %d\n", tools),
		`go_goroutines `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The scrape itself is counted once it has been answered.
	_, body = p.request(t, "GET", "/metrics", "")
	if want := `mcpproxy_http_requests_total{code="200",route="/metrics"} 1`; !strings.Contains(string(body), want) {
		t.Errorf("second scrape lacks %q", want)
	}
	eventually(t, 15*time.Second, func() error {
		_, body := p.request(t, "GET", "/metrics", "")
		if want := fmt.Sprintf("mcpproxy_tools_indexed %d\n", tools); !strings.Contains(string(body), want) {
			return fmt.Errorf("/metrics lacks %q", want)
		}
		return nil
	})
}
