//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/oauth"
	"github.com/mcpproxy/mcpproxy/internal/oauth/oauthtest"
)

// startOAuthProxy runs `mcpproxy serve --log-level debug` on cfg in dir.
func startOAuthProxy(tb testing.TB, dir string, cfg map[string]any, env ...string) *proxy {
	tb.Helper()
	path := filepath.Join(dir, "mcp_config.json")
	if cfg != nil {
		data, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	p := launch(tb, dir, []string{"serve", "-c", path, "-l", "127.0.0.1:0", "--log-level", "debug"}, env...)
	p.ConfigPath = path
	p.DataDir = filepath.Join(dir, "data")
	p.Key = testKey
	p.waitStarted(tb)
	return p
}

// stop ends the daemon with SIGTERM and waits for a clean exit.
func (p *proxy) stop(tb testing.TB) {
	tb.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.waitExit(tb, 10*time.Second); code != 0 {
		tb.Fatalf("mcpproxy exited with %d", code)
	}
}

// cliLogin runs `mcpproxy auth login NAME --no-browser`, follows the URL it
// prints as a browser would, and returns the finished run.
func (p *proxy) cliLogin(tb testing.TB, name string) cliResult {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"-c", p.ConfigPath, "auth", "login", name, "--no-browser", "--timeout", "30s"}
	cmd := exec.CommandContext(ctx, proxyBin, args...)
	cmd.Env = proxyEnv(p.Dir, nil)
	cmd.Dir = p.Dir
	var stdout strings.Builder
	cmd.Stdout = &stdout
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	var stderr strings.Builder
	sc := bufio.NewScanner(stderrPipe)
	followed := false
	for sc.Scan() {
		line := sc.Text()
		stderr.WriteString(line + "\n")
		if u, ok := strings.CutPrefix(line, "  http"); ok && !followed {
			followed = true
			if err := oauthtest.Follow(ctx, "http"+u); err != nil {
				tb.Errorf("follow the authorization URL: %v", err)
			}
		}
	}
	err = cmd.Wait()
	r := cliResult{args: args, stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
		tb.Fatalf("%s: %v", r, err)
	}
	if !followed {
		tb.Fatalf("no authorization URL printed: %s", r)
	}
	return r
}

func TestOAuth_LoginEndToEnd(t *testing.T) {
	as := oauthtest.New(t, oauthtest.Options{AccessTTL: 3 * time.Second, Scopes: []string{"mcp.read"}})
	const clientSecret = "configured-client-secret-7c1e"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	as.AddClient("cfg-client", clientSecret, "http://127.0.0.1:"+strconv.Itoa(port)+oauth.CallbackPath)

	dir := t.TempDir()
	env := []string{"OAUTH_SECRET=" + clientSecret}
	cfg := map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"api_key":  testKey,
		"mcpServers": []map[string]any{
			{"name": "remote", "url": as.URL(), "protocol": "streamable-http"},
			{"name": "cfg", "url": as.URL(), "oauth": map[string]any{
				"client_id": "cfg-client", "client_secret": "${env:OAUTH_SECRET}", "redirect_port": port}},
		},
	}
	p := startOAuthProxy(t, dir, cfg, env...)
	top := t
	var transcript strings.Builder // every API answer and CLI output, grepped at the end
	get := func(path string, v any) {
		t.Helper()
		code, body := p.request(t, "GET", path, p.Key)
		transcript.Write(body)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		if v != nil {
			var env envelope
			json.Unmarshal(body, &env)
			if err := json.Unmarshal(env.Data, v); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
		}
	}

	for _, name := range []string{"remote", "cfg"} {
		s := p.waitState(t, name, 15*time.Second, "needs_auth")
		if !strings.Contains(s.LastError, "mcpproxy auth login "+name) || s.RetryCount != 0 {
			t.Errorf("%s: last_error %q, retries %d", name, s.LastError, s.RetryCount)
		}
	}
	var st struct {
		Counts map[string]int `json:"counts"`
	}
	get("/api/v1/status", &st)
	if st.Counts["needs_auth"] != 2 {
		t.Errorf("status counts %v, want needs_auth 2", st.Counts)
	}
	metricsCode, metricsBody := p.request(t, "GET", "/metrics", p.Key)
	if metricsCode != 200 || !strings.Contains(string(metricsBody), `mcpproxy_servers{state="needs_auth"} 2`) {
		t.Errorf("metrics lack needs_auth 2:\n%s", grepLines(string(metricsBody), "mcpproxy_servers{"))
	}
	if out := p.ok(t, "servers", "list", "--state", "needs_auth"); !hasRow(out, "remote", "needs_auth") || !hasRow(out, "cfg", "needs_auth") {
		t.Errorf("servers list --state needs_auth:\n%s", out)
	}

	r0 := p.cli(t, "tools", "call", "remote:whoami")
	if r0.code != 1 || !strings.Contains(r0.stdout+r0.stderr, `server "remote" needs a person to log in (OAuth)`) {
		t.Errorf("tool call before login: %s", r0)
	}

	// Login through the CLI (dynamic registration) and through REST
	// (the configured client with its ${env:…} secret and fixed port).
	r := p.cliLogin(t, "remote")
	transcript.WriteString(r.stdout + r.stderr)
	if r.code != 0 || !strings.Contains(r.stdout, "Logged in to remote; it is ready (1 tool).") {
		t.Fatalf("auth login: %s", r)
	}
	code, body := p.send(t, "POST", "/api/v1/servers/cfg/login", "")
	transcript.Write(body)
	var started struct {
		Data struct {
			URL string `json:"authorization_url"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &started); code != 200 || !strings.Contains(started.Data.URL, "client_id=cfg-client") {
		t.Fatalf("POST login: %d %s", code, body)
	}
	if err := oauthtest.Follow(context.Background(), started.Data.URL); err != nil {
		t.Fatal(err)
	}
	p.waitState(t, "cfg", 10*time.Second, "ready")

	if out := p.ok(t, "tools", "call", "remote:whoami"); !strings.Contains(out, "hello, authorized client") {
		t.Fatalf("tools call: %s", out)
	}
	if out := p.ok(t, "tools", "call", "cfg:whoami"); !strings.Contains(out, "hello, authorized client") {
		t.Fatalf("tools call: %s", out)
	}
	var statuses []mcpproxy.AuthStatus
	p.okJSON(t, &statuses, "auth", "status")
	if len(statuses) != 2 || !statuses[0].LoggedIn || !statuses[1].LoggedIn || statuses[0].ExpiresAt == nil {
		t.Fatalf("auth status: %+v", statuses)
	}
	out := p.ok(t, "auth", "status", "remote")
	transcript.WriteString(out)
	if !hasRow(out, "remote", "yes") || !strings.Contains(out, "mcp.read") {
		t.Errorf("auth status remote:\n%s", out)
	}

	t.Run("ProactiveRefresh", func(t *testing.T) {
		eventually(t, 10*time.Second, func() error {
			if n := as.Refreshes(); n < 2 {
				return fmt.Errorf("%d refreshes", n)
			}
			return nil
		})
		if n := as.Rejected(); n != 0 {
			t.Errorf("%d requests refused for an expired token: refresh came too late", n)
		}
		var s mcpproxy.AuthStatus
		get("/api/v1/servers/remote/auth", &s)
		if s.LastRefresh == nil {
			t.Errorf("auth status after refresh: %+v", s)
		}
	})

	t.Run("RestartKeepsLogin", func(t *testing.T) {
		p.stop(t)
		transcript.WriteString(p.stdout.String() + p.stderr.String())
		// Owned by the whole test, not this subtest.
		p = startOAuthProxy(top, dir, nil, env...)
		p.waitState(t, "remote", 15*time.Second, "ready")
		p.waitState(t, "cfg", 15*time.Second, "ready")
	})

	t.Run("RevokedRefreshToken", func(t *testing.T) {
		events := p.subscribe(t)
		as.RevokeRefreshTokens()
		ev := events.waitFor(t, 15*time.Second, "server.auth refresh_failed", func(e event) bool {
			return e.Type == "server.auth" && strings.Contains(string(e.Data), "refresh_failed")
		})
		if !strings.Contains(string(ev.Data), "invalid_grant") {
			t.Errorf("event %s", ev.Data)
		}
		s := p.waitState(t, "remote", 15*time.Second, "needs_auth")
		if !strings.Contains(s.LastError, "invalid_grant") {
			t.Errorf("last_error %q", s.LastError)
		}
	})

	t.Run("URLChangeInvalidates", func(t *testing.T) {
		code, body := p.send(t, "PATCH", "/api/v1/servers/cfg", `{"url": "`+as.URL()+`?v=2"}`)
		transcript.Write(body)
		if code != 200 {
			t.Fatalf("PATCH: %d %s", code, body)
		}
		p.waitState(t, "cfg", 15*time.Second, "needs_auth")
		var s mcpproxy.AuthStatus
		get("/api/v1/servers/cfg/auth", &s)
		if s.LoggedIn {
			t.Fatalf("still logged in after the URL changed: %+v", s)
		}
	})

	t.Run("Logout", func(t *testing.T) {
		r := p.cli(t, "auth", "logout", "remote")
		if r.code != 0 || !strings.Contains(r.stdout, "Logged out of remote.") {
			t.Fatalf("%s", r)
		}
		var s mcpproxy.AuthStatus
		get("/api/v1/servers/remote/auth", &s)
		if s.LoggedIn {
			t.Fatalf("logged in after logout: %+v", s)
		}
	})

	t.Run("NoSecretsShown", func(t *testing.T) {
		get("/api/v1/servers", nil)
		get("/api/v1/auth", nil)
		get("/api/v1/activity?limit=500", nil)
		get("/api/v1/servers/cfg", nil)
		transcript.WriteString(p.stdout.String() + p.stderr.String())
		cfgFile, _ := os.ReadFile(p.ConfigPath)
		transcript.Write(cfgFile)
		all := transcript.String()
		if !strings.Contains(all, "oauth login completed") {
			t.Fatal("the transcript lacks the daemon's log")
		}
		secrets := append(as.Secrets(), clientSecret)
		if len(secrets) < 6 {
			t.Fatalf("only %d credentials issued", len(secrets))
		}
		for _, s := range secrets {
			if strings.Contains(all, s) {
				i := strings.Index(all, s)
				t.Errorf("credential %.12s… shows: …%s…", s, all[max(0, i-200):min(len(all), i+len(s)+50)])
			}
		}
	})
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
