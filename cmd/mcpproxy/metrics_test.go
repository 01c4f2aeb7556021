//go:build linux

package main

import (
	"fmt"
	"io"
	"net/http"
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
	// The waits above made a varying number of API requests; count from
	// a scrape taken now.
	code, body := p.request(t, "GET", "/metrics", "")
	if code != 200 {
		t.Fatalf("GET /metrics on loopback without key = %d %s, want 200", code, body)
	}
	ok200 := metricValue(string(body), `mcpproxy_http_requests_total{code="200",route="/api/v1/"}`)
	nf404 := max(0, metricValue(string(body), `mcpproxy_http_requests_total{code="404",route="/api/v1/"}`))
	p.data(t, "GET", "/api/v1/status", nil)
	p.request(t, "GET", "/api/v1/servers/ghost", p.Key)

	code, body = p.request(t, "GET", "/metrics", "")
	if code != 200 {
		t.Fatalf("GET /metrics on loopback without key = %d %s, want 200", code, body)
	}
	if got := metricValue(string(body), `mcpproxy_http_requests_total{code="200",route="/api/v1/"}`); got != ok200+1 {
		t.Errorf("200s on /api/v1/ went from %v to %v over one request, want +1", ok200, got)
	}
	if got := metricValue(string(body), `mcpproxy_http_requests_total{code="404",route="/api/v1/"}`); got != nf404+1 {
		t.Errorf("404s on /api/v1/ went from %v to %v over one request, want +1", nf404, got)
	}
	// broken fails and retries on its own clock: between the wait above
	// and the scrape it may have gone back to connecting.
	if n := max(0, metricValue(string(body), `mcpproxy_servers{state="error"}`)) + max(0, metricValue(string(body), `mcpproxy_servers{state="connecting"}`)); n != 1 {
		t.Errorf("servers in error or connecting: %v, want 1 (broken)", n)
	}
	for _, want := range []string{
		`mcpproxy_servers{state="ready"} 1`,
		`mcpproxy_upstream_connect_attempts_total{server="good"} 1`,
		`mcpproxy_upstream_connect_failures_total{server="broken"} `, // it retries
		fmt.Sprintf("mcpproxy_tools_usable %d\n", tools),
		`go_goroutines `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// A scrape itself is counted once it has been answered.
	_, body = p.request(t, "GET", "/metrics", "")
	if want := `mcpproxy_http_requests_total{code="200",route="/metrics"} 2` + "\n"; !strings.Contains(string(body), want) {
		t.Errorf("third scrape lacks %q", want)
	}
	eventually(t, 15*time.Second, func() error {
		_, body := p.request(t, "GET", "/metrics", "")
		if want := fmt.Sprintf("mcpproxy_tools_indexed %d\n", tools); !strings.Contains(string(body), want) {
			return fmt.Errorf("/metrics lacks %q", want)
		}
		return nil
	})
}

// metricValue returns the value of the sample named exactly name (with its
// labels) in a text exposition, or -1 when absent.
func metricValue(body, name string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f
			}
		}
	}
	return -1
}

// TestServe_MetricsHost: on the daemon's loopback listener, a request
// whose Host is not loopback (a DNS-rebinding page) is refused by /metrics
// as by the MCP endpoints, and a loopback Host is served by both.
func TestServe_MetricsHost(t *testing.T) {
	p := startProxy(t, configJSON(t, nil))
	status := func(path, host string) int {
		req, err := http.NewRequest(http.MethodGet, p.Base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := p.client.Do(req)
		if err != nil {
			t.Fatalf("GET %s with Host %s: %v", path, host, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, host := range []string{"evil.example", "evil.example:80"} {
		if got := status("/metrics", host); got != http.StatusForbidden {
			t.Errorf("/metrics with Host %s: %d, want 403", host, got)
		}
		if got := status("/mcp", host); got != http.StatusForbidden {
			t.Errorf("/mcp with Host %s: %d, want 403 (the rule /metrics follows)", host, got)
		}
	}
	if got := status("/metrics", "localhost"); got != http.StatusOK {
		t.Errorf("/metrics with Host localhost: %d, want 200", got)
	}
}
