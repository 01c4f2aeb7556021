//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// newSecret returns a fresh random value shaped like a base64 API token,
// with the "+" and "/" that URLs escape.
func newSecret(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 30)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return "Zk" + base64.StdEncoding.EncodeToString(b) + "+/q"
}

// secretForms are the ways a value can show in text: as is, escaped for a
// URL query or path, or inside a JSON string.
func secretForms(s string) []string {
	j, _ := json.Marshal(s)
	return []string{s, url.QueryEscape(s), url.PathEscape(s), string(j[1 : len(j)-1])}
}

// leak returns where in text any form of the secret, or any 12 bytes of it
// (a cut value), shows, or "".
func leak(text, secret string) string {
	for _, f := range secretForms(secret) {
		if i := strings.Index(text, f); i >= 0 {
			return around(text, i, len(f))
		}
	}
	const window = 12
	for i := 0; i+window <= len(secret); i++ {
		if j := strings.Index(text, secret[i:i+window]); j >= 0 {
			return "part of it: " + around(text, j, window)
		}
	}
	return ""
}

func around(text string, i, n int) string {
	return fmt.Sprintf("%q", text[max(0, i-80):min(len(text), i+n+80)])
}

// exposure is one thing a user can read: an API response, a log, a file.
type exposure struct{ where, text string }

// rawEvents reads /events into a buffer until stop is called.
func (p *proxy) rawEvents(tb testing.TB) (text func() string, stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", p.Base+"/events", nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("X-API-Key", p.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		tb.Fatalf("GET /events: %v", err)
	}
	var buf lockedBuffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			buf.Write([]byte(line))
			if err != nil {
				return
			}
		}
	}()
	stop = func() {
		cancel()
		<-done
	}
	tb.Cleanup(stop)
	return buf.String, stop
}

// TestServe_SecretsNeverShow runs the daemon with a secret in its
// environment that the config names only as ${env:MCPPROXY_TEST_SECRET}: in
// a stdio server's env, in the args of a stdio server that prints it to
// stderr and dies, and in the URL query and Authorization header of an HTTP
// server that refuses connections. Clients then send the secret in tool
// arguments and REST bodies. No API response, event, log line or file shows
// the value, while "***" shows where it was masked.
func TestServe_SecretsNeverShow(t *testing.T) {
	secret := newSecret(t)
	const placeholder = "${env:MCPPROXY_TEST_SECRET}"
	vault := stdio("vault", testupstream.ModeOK, "UPSTREAM_TOKEN="+placeholder, testupstream.EnvTools+"=1")
	servers := []map[string]any{
		vault,
		{"name": "leaky", "command": "/bin/sh", "args": []string{"-c", "echo leaked $0 >&2; exit 3", placeholder}},
		{"name": "remote", "url": "http://" + freeAddr(t) + "/mcp?token=" + placeholder,
			"headers": map[string]string{"Authorization": "Bearer " + placeholder}},
		stdio("unset", testupstream.ModeOK, "MISSING=${env:MCPPROXY_TEST_UNSET_VAR}"),
	}
	names := []string{"vault", "leaky", "remote", "unset"}

	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfg := configJSON(t, servers, "data_dir", dataDir, "api_key", testKey)
	cfgPath := filepath.Join(dir, "mcp_config.json")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cfg, secret) {
		t.Fatal("the config file holds the secret itself")
	}
	p := launch(t, dir, []string{"serve", "-c", cfgPath, "-l", "127.0.0.1:0", "--log-level", "debug"},
		"MCPPROXY_TEST_SECRET="+secret)
	p.ConfigPath, p.DataDir, p.Key = cfgPath, dataDir, testKey
	p.waitStarted(t)
	events, stopEvents := p.rawEvents(t)

	p.waitState(t, "vault", 30*time.Second, "ready")
	var leaky serverStatus
	eventually(t, 30*time.Second, func() error {
		leaky = p.servers(t)["leaky"]
		if leaky.State != "error" || !strings.Contains(leaky.LastError, "leaked") {
			return fmt.Errorf("leaky is %s (last_error %q), want an error naming its stderr", leaky.State, leaky.LastError)
		}
		return nil
	})
	if !strings.Contains(leaky.LastError, "leaked ***") {
		t.Errorf("leaky last_error %q, want the secret masked as ***", leaky.LastError)
	}
	remote := p.waitState(t, "remote", 30*time.Second, "error")
	if !strings.Contains(remote.LastError, "token=***") {
		t.Errorf("remote last_error %q, want its URL with the token masked", remote.LastError)
	}
	unset := p.waitState(t, "unset", 30*time.Second, "error")
	if want := "env.MISSING: ${env:MCPPROXY_TEST_UNSET_VAR} is not set"; !strings.Contains(unset.LastError, want) {
		t.Errorf("unset last_error %q, want it to say %q", unset.LastError, want)
	}

	var seen []exposure
	add := func(where, text string) { seen = append(seen, exposure{where, text}) }

	// --- traffic -------------------------------------------------------------
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	connect := func(path string) *mcp.ClientSession {
		c := mcp.NewClient(&mcp.Implementation{Name: "e2e-secrets", Version: "1"}, nil)
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: p.Base + path, MaxRetries: -1}, nil)
		if err != nil {
			t.Fatalf("connect %s: %v", path, err)
		}
		t.Cleanup(func() { cs.Close() })
		return cs
	}
	smart, direct, pass := connect("/mcp"), connect("/mcp/all"), connect("/mcp/server/vault")
	// echoed: results the upstream echoes back hold what the client sent;
	// they are the client's own data and are not checked.
	callTool := func(cs *mcp.ClientSession, name string, args map[string]any, echoed bool) *mcp.CallToolResult {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("call %s: %v", name, err)
		}
		if !echoed {
			b, _ := json.Marshal(res)
			add("result of "+name, string(b))
		}
		return res
	}
	secretArgs := map[string]any{
		"api_key": secret,
		"note":    "see " + secret,
		"nested":  map[string]any{"password": secret, "list": []any{"x", secret}},
	}
	if res := callTool(smart, "call_tool", map[string]any{"name": "vault:tool_0", "args": secretArgs}, true); res.IsError {
		t.Fatalf("call_tool vault:tool_0: %+v", res.Content)
	}
	callTool(smart, "call_tool", map[string]any{"name": "vault:echo", "args_json": `{"message": "` + secret + `"}`}, true)
	callTool(smart, "call_tool", map[string]any{"name": "vault:nope", "args": map[string]any{"note": secret}}, false)
	if res := callTool(smart, "call_tool", map[string]any{"name": "leaky:echo", "args": map[string]any{"note": secret}}, false); !res.IsError {
		t.Error("call_tool leaky:echo succeeded")
	}
	callTool(direct, "vault__tool_0", map[string]any{"note": secret}, true)
	callTool(pass, "tool_0", map[string]any{"note": secret}, true)
	callTool(smart, "upstream_servers", map[string]any{"operation": "restart", "name": "leaky"}, false)
	callTool(smart, "upstream_servers", map[string]any{"operation": "list"}, false)
	callTool(smart, "quarantine_security", map[string]any{"operation": "list"}, false)

	for _, path := range []string{"/api/v1/servers/remote/disable", "/api/v1/servers/remote/enable"} {
		if code, body := p.postJSON(t, path, ""); code != 200 {
			t.Fatalf("POST %s: %d %s", path, code, body)
		}
	}
	// Refused mutations whose bodies carry the secret are recorded too.
	if code, body := p.postJSON(t, "/api/v1/servers/vault/tools/approve", `{"tools":["`+secret+`"]}`); code < 400 {
		t.Errorf("approving an unknown tool: %d %s", code, body)
	}
	if code, body := p.send(t, "PATCH", "/api/v1/servers/ghost", `{"env":{"NOTE":"`+secret+`"}}`); code < 400 {
		t.Errorf("updating an unknown server: %d %s", code, body)
	}
	p.waitState(t, "remote", 30*time.Second, "error")

	// --- everything a user can read ------------------------------------------
	get := func(path string) []byte {
		t.Helper()
		code, body := p.request(t, "GET", path, p.Key)
		if code != 200 {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
		add("GET "+path, string(body))
		return body
	}
	get("/api/v1/status")
	get("/api/v1/servers")
	get("/api/v1/quarantine")
	for _, n := range names {
		get("/api/v1/servers/" + n)
		get("/api/v1/servers/" + n + "/tools")
		get("/api/v1/servers/" + n + "/logs?tail=0")
	}
	var leakyLogs struct {
		Lines []string `json:"lines"`
	}
	p.data(t, "GET", "/api/v1/servers/leaky/logs?tail=0", &leakyLogs)
	if !strings.Contains(strings.Join(leakyLogs.Lines, "\n"), "leaked ***") {
		t.Errorf("leaky's logs %q, want its stderr line with the secret masked", leakyLogs.Lines)
	}

	// Every activity record, page by page and one by one. The records are
	// committed in the background, so wait for the last REST one.
	type record struct {
		ID        string          `json:"id"`
		Kind      string          `json:"kind"`
		Endpoint  string          `json:"endpoint"`
		Server    string          `json:"server"`
		Tool      string          `json:"tool"`
		Action    string          `json:"action"`
		Arguments json.RawMessage `json:"arguments"`
		Error     string          `json:"error"`
	}
	var records []record
	eventually(t, 30*time.Second, func() error {
		records = records[:0]
		cursor := ""
		for {
			var page struct {
				Records    []record `json:"records"`
				NextCursor string   `json:"next_cursor"`
			}
			path := "/api/v1/activity?limit=3"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			body := get(path)
			var env envelope
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatalf("GET %s: %v\n%s", path, err, body)
			}
			if err := json.Unmarshal(env.Data, &page); err != nil {
				t.Fatalf("GET %s: %v\n%s", path, err, body)
			}
			records = append(records, page.Records...)
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		for _, r := range records {
			if r.Action == "update" && r.Server == "ghost" {
				return nil
			}
		}
		return fmt.Errorf("%d activity records, none yet for the refused update", len(records))
	})
	var noted bool
	for _, r := range records {
		get("/api/v1/activity/" + r.ID)
		if r.Endpoint == "/mcp" && r.Server == "vault" && r.Tool == "tool_0" {
			var args struct {
				APIKey string `json:"api_key"`
				Note   string `json:"note"`
			}
			json.Unmarshal(r.Arguments, &args)
			noted = args.APIKey == "***" && args.Note == "see ***"
			if !noted {
				t.Errorf("activity record of vault:tool_0: arguments %s, want api_key and the secret in note masked", r.Arguments)
			}
		}
	}
	if !noted {
		t.Errorf("no activity record of the call to vault:tool_0 among %d", len(records))
	}

	// A few more seconds of /events: the leaky server keeps failing.
	time.Sleep(3 * time.Second)
	stopEvents()
	add("/events", events())
	if !strings.Contains(events(), "leaked ***") {
		t.Error("/events never showed leaky's masked error")
	}

	// --- stop the daemon by its pid; then its output and files ---------------
	p.track(t)
	if err := syscall.Kill(p.PID(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.waitExit(t, 15*time.Second); code != 0 {
		t.Errorf("daemon exited with %d", code)
	}
	add("daemon stdout", p.stdout.String())
	add("daemon stderr", p.stderr.String())
	if !strings.Contains(p.stderr.String(), "leaked ***") {
		t.Error("the daemon's log never showed leaky's masked error")
	}
	var leakyFile string
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		add(path, string(b))
		if filepath.Base(path) == "server-leaky.log" {
			leakyFile = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(leakyFile, "leaked ***") {
		t.Errorf("data_dir/logs/server-leaky.log = %q, want leaky's stderr line with the secret masked", leakyFile)
	}

	for _, e := range seen {
		if where := leak(e.text, secret); where != "" {
			t.Errorf("%s shows the secret: %s", e.where, where)
		}
	}
	t.Logf("checked %d responses, logs and files", len(seen))
}
