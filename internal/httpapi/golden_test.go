package httpapi

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/golden"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
)

// TestAPI_Golden holds the REST answers people and scripts read most in
// testdata/rest.txtar: a change of their shape is a diff there.
func TestAPI_Golden(t *testing.T) {
	cfg := config.Default()
	cfg.APIKey = testKey
	f := &fakeBackend{view: stateview.New(), cfg: cfg}
	f.setFile(t, `{"mcpServers": [
		{"name": "a", "command": "/bin/cat", "args": ["-u"], "env": {"TOKEN": "${env:TOKEN}"}},
		{"name": "q", "url": "https://example.com/mcp", "headers": {"Authorization": "Bearer ${env:Q}"}, "quarantined": true},
		{"name": "e", "url": "http://127.0.0.1:9/mcp"}
	]}`)
	now := time.Now()
	ready := srv("a", mcpproxy.StateReady, "echo", "add")
	ready.Tools[0].Approval, ready.Tools[1].Approval = mcpproxy.ApprovalApproved, mcpproxy.ApprovalPending
	ready.Tools[1].Warnings = []mcpproxy.Warning{{Kind: "hidden_instructions", Field: "description", Detail: "asks to ignore previous instructions"}}
	ready.PendingTools, ready.PID, ready.ConnectedAt = 1, 4242, &now
	ready.ServerInfo, ready.ProtocolVersion = &mcpproxy.ServerInfo{Name: "cat", Version: "1.0.0"}, "2025-06-18"
	quar := &stateview.Server{ServerStatus: mcpproxy.ServerStatus{Name: "q", Protocol: mcpproxy.ProtocolAuto, Enabled: true,
		Quarantined: true, State: mcpproxy.StateQuarantined}, Generation: 1}
	failing := &stateview.Server{ServerStatus: mcpproxy.ServerStatus{Name: "e", Protocol: mcpproxy.ProtocolAuto, Enabled: true,
		State: mcpproxy.StateError, LastError: "connect: dial tcp 127.0.0.1:9: connection refused", LastErrorAt: &now,
		RetryCount: 3, NextRetryAt: &now}, Generation: 1}
	for _, s := range []*stateview.Server{ready, quar, failing} {
		f.view.Put(s)
	}
	ts := httptest.NewServer(New(Options{Backend: f, Version: "test", ConfigPath: "/home/me/.mcpproxy/mcp_config.json",
		Listen: "127.0.0.1:8080", Approvals: &fakeApprover{}}))
	t.Cleanup(ts.Close)

	var files []golden.File
	for _, path := range []string{
		"/api/v1/status",
		"/api/v1/servers",
		"/api/v1/servers/a",
		"/api/v1/servers/q",
		"/api/v1/servers/a/tools",
		"/api/v1/quarantine",
		"/api/v1/tools/preflight?ids=a:echo,a:add,a:ecko,q:x,e:echo,b:echo,echo",
	} {
		code, body := do(t, "GET", ts.URL+path, testKey)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		files = append(files, golden.File{Name: "GET " + path, JSON: []byte(body)})
	}
	golden.Check(t, "testdata/rest.txtar", "REST answers of a daemon with a ready, a quarantined and a failing server.", files...)
}
