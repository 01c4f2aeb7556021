//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"golang.org/x/sys/unix"
)

// TestServe_FirstStart starts the daemon without a config file, then again
// with environment and flag overrides on the file it created.
func TestServe_FirstStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "new", "mcp_config.json")

	// First start: the file and its directory do not exist.
	p := launch(t, dir, []string{"serve", "-c", path, "-l", "127.0.0.1:0"})
	p.waitStarted(t)
	out := waitStdout(t, p, "  api:")
	for _, want := range []string{
		"  listen:    " + p.Base + "\n",
		"  config:    " + path + " (created with defaults)\n",
		"  data dir:  " + filepath.Join(dir, ".mcpproxy") + "\n",
		"  api key:   " + path + " (\"api_key\")\n",
		"  servers:   0 configured, 0 enabled\n",
		"  api:       " + p.Base + "/api/v1/status (send X-API-Key)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("startup block lacks %q:\n%s", want, out)
		}
	}
	created, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("config file mode %v, want 0600 (it holds the API key)", fi.Mode().Perm())
	}
	cfg := readConfig(t, path)
	if cfg["listen"] != "127.0.0.1:8080" {
		t.Errorf("listen in file = %v, want 127.0.0.1:8080 (the -l flag must not be written)", cfg["listen"])
	}
	if s, ok := cfg["mcpServers"].([]any); !ok || len(s) != 0 {
		t.Errorf("mcpServers in file = %#v, want []", cfg["mcpServers"])
	}
	fileKey, _ := cfg["api_key"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(fileKey) {
		t.Fatalf("api_key in file = %q, want 64 hex characters", fileKey)
	}
	if st, err := os.Stat(filepath.Join(dir, ".mcpproxy", "logs")); err != nil || !st.IsDir() {
		t.Errorf("default data dir has no logs directory: %v", err)
	}
	p.Key = fileKey
	var status struct {
		Servers    int    `json:"servers"`
		ConfigPath string `json:"config_path"`
		Listen     string `json:"listen"`
	}
	p.data(t, "GET", "/api/v1/status", &status)
	if status.Servers != 0 || status.ConfigPath != path || "http://"+status.Listen != p.Base {
		t.Errorf("status = %+v, want 0 servers, config %s, listen %s", status, path, p.Base)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.waitExit(t, 5*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}

	t.Run("EnvOverridesFile", func(t *testing.T) {
		envData := filepath.Join(dir, "envdata")
		p := launch(t, dir, []string{"serve", "-c", path},
			"MCPPROXY_LISTEN=127.0.0.1:0", "MCPPROXY_API_KEY=env-key", "MCPPROXY_DATA_DIR="+envData)
		p.waitStarted(t)
		out := waitStdout(t, p, "  api:")
		if strings.Contains(p.Base, ":8080") {
			t.Errorf("listening on %s; MCPPROXY_LISTEN=127.0.0.1:0 should win over the file", p.Base)
		}
		for _, want := range []string{
			"  config:    " + path + "\n",
			"  data dir:  " + envData + "\n",
			"  api key:   environment variable MCPPROXY_API_KEY\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("startup block lacks %q:\n%s", want, out)
			}
		}
		if st, err := os.Stat(filepath.Join(envData, "logs")); err != nil || !st.IsDir() {
			t.Errorf("MCPPROXY_DATA_DIR has no logs directory: %v", err)
		}
		if code, body := p.request(t, "GET", "/api/v1/status", "env-key"); code != 200 {
			t.Errorf("status with the environment key: %d %s", code, body)
		}
		if code, body := p.request(t, "GET", "/api/v1/status", fileKey); code != 401 {
			t.Errorf("status with the file's key while MCPPROXY_API_KEY is set: %d %s, want 401", code, body)
		}
		if now, _ := os.ReadFile(path); !bytes.Equal(now, created) {
			t.Errorf("environment overrides were written to the file:\n%s", now)
		}

		// A hand edit is applied with the overrides still on top.
		p.Key = "env-key"
		var st0 struct {
			ConfigVersion uint64 `json:"config_version"`
		}
		p.data(t, "GET", "/api/v1/status", &st0)
		writeFileLikeEditor(t, path, bytes.Replace(created, []byte(`"tools_limit": 15`), []byte(`"tools_limit": 16`), 1))
		eventually(t, 10*time.Second, func() error {
			var st struct {
				ConfigVersion uint64 `json:"config_version"`
				ConfigError   string `json:"config_error"`
			}
			p.data(t, "GET", "/api/v1/status", &st)
			if st.ConfigVersion == st0.ConfigVersion || st.ConfigError != "" {
				return fmt.Errorf("edit not applied: %+v", st)
			}
			return nil
		})
		if code, body := p.request(t, "GET", "/api/v1/status", fileKey); code != 401 {
			t.Errorf("after a reload, the file's key works although MCPPROXY_API_KEY is set: %d %s", code, body)
		}
	})

	t.Run("FlagsOverrideEnv", func(t *testing.T) {
		flagData := filepath.Join(dir, "flagdata")
		// The process runs in dir, so a relative -c names the same file.
		p := launch(t, dir, []string{"serve", "-c", filepath.Join("new", "mcp_config.json"), "-l", "127.0.0.1:0", "-d", flagData},
			"MCPPROXY_LISTEN=not-an-address", "MCPPROXY_DATA_DIR="+filepath.Join(dir, "envdata2"))
		p.waitStarted(t)
		out := waitStdout(t, p, "  api:")
		if !strings.Contains(out, "  data dir:  "+flagData+"\n") {
			t.Errorf("-d does not win over MCPPROXY_DATA_DIR:\n%s", out)
		}
		if !strings.Contains(out, "  config:    "+path+"\n") {
			t.Errorf("a relative -c is not shown as the absolute path %s:\n%s", path, out)
		}
		if code, body := p.request(t, "GET", "/api/v1/status", fileKey); code != 200 {
			t.Errorf("status with the file's key: %d %s", code, body)
		}
		p.cmd.Process.Signal(syscall.SIGINT)
		if code := p.waitExit(t, 5*time.Second); code != 0 {
			t.Errorf("exit code %d after SIGINT, want 0", code)
		}
	})
}

// TestServe_ConfigDefaults: keys the file leaves out get their defaults
// when the daemon starts.
func TestServe_ConfigDefaults(t *testing.T) {
	t.Run("GeneratesMissingKey", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "mcp_config.json")
		orig := `{"x_keep": {"a": 1}, "data_dir": "` + filepath.Join(dir, "data") + `", "mcpServers": []}`
		if err := os.WriteFile(path, []byte(orig), 0o600); err != nil {
			t.Fatal(err)
		}
		p := launch(t, dir, []string{"serve", "-c", path, "-l", "127.0.0.1:0"})
		p.waitStarted(t)
		cfg := readConfig(t, path)
		key, _ := cfg["api_key"].(string)
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(key) {
			t.Fatalf("api_key saved to the file = %q, want 64 hex characters; file: %v", key, cfg)
		}
		if _, ok := cfg["x_keep"]; !ok {
			t.Errorf("saving the generated key lost the unknown field x_keep: %v", cfg)
		}
		p.Key = key
		p.data(t, "GET", "/api/v1/status", nil)
	})

	t.Run("TildeDataDir", func(t *testing.T) {
		p := startProxy(t, `{"data_dir": "~/mydata", "mcpServers": []}`)
		if out := waitStdout(t, p, "  api:"); !strings.Contains(out, "  data dir:  "+filepath.Join(p.Dir, "mydata")+"\n") {
			t.Errorf("data_dir ~/mydata is not expanded against HOME=%s:\n%s", p.Dir, out)
		}
		if st, err := os.Stat(filepath.Join(p.Dir, "mydata", "logs")); err != nil || !st.IsDir() {
			t.Errorf("no logs directory in ~/mydata: %v", err)
		}
	})

	t.Run("ClaudeDesktopForm", func(t *testing.T) {
		s := stdio("", testupstream.ModeOK)
		delete(s, "name")
		p := startProxy(t, mustJSON(t, map[string]any{"mcpServers": map[string]any{"echo-server": s}}))
		p.waitState(t, "echo-server", 30*time.Second, "ready")
		p.data(t, "POST", "/api/v1/servers/echo-server/disable", nil)
		p.waitState(t, "echo-server", 10*time.Second, "disabled")
		data, _ := os.ReadFile(p.ConfigPath)
		var back struct {
			Servers json.RawMessage `json:"mcpServers"`
		}
		json.Unmarshal(data, &back)
		var asMap map[string]map[string]any
		var asList []map[string]any
		switch {
		case json.Unmarshal(back.Servers, &asMap) == nil:
			if e := asMap["echo-server"]; e == nil || e["enabled"] != false || e["command"] != s["command"] {
				t.Errorf("file after disable:\n%s", data)
			}
		case json.Unmarshal(back.Servers, &asList) == nil:
			if len(asList) != 1 || asList[0]["name"] != "echo-server" || asList[0]["enabled"] != false {
				t.Errorf("file after disable:\n%s", data)
			}
		default:
			t.Errorf("file after disable has no servers:\n%s", data)
		}
	})
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// waitStdout waits until stdout has a line starting with prefix and returns
// all of stdout.
func waitStdout(tb testing.TB, p *proxy, prefix string) string {
	tb.Helper()
	var out string
	eventually(tb, 10*time.Second, func() error {
		out = p.stdout.String()
		if strings.Contains(out, "\n"+prefix) {
			return nil
		}
		return fmt.Errorf("no %q line on stdout:\n%s", prefix, out)
	})
	return out
}

// TestServe_InvalidConfig: a config that does not validate at start is fatal,
// with a message naming the field and nothing listening.
func TestServe_InvalidConfig(t *testing.T) {
	tests := []struct {
		name   string
		config string
		args   []string
		env    []string
		code   int
		want   string
	}{
		{
			name:   "BadURL",
			config: `{"mcpServers": [{"name": "x", "url": "htp:/x"}]}`,
			code:   1, want: `mcpServers[0].url: invalid URL "htp:/x"`,
		},
		{
			name:   "BadURLMapForm",
			config: `{"mcpServers": {"gh": {"url": "ftp://example.com"}}}`,
			code:   1, want: `mcpServers.gh.url: invalid URL "ftp://example.com"`,
		},
		{
			name:   "DuplicateName",
			config: `{"mcpServers": [{"name": "a", "command": "x"}, {"name": "a", "command": "y"}]}`,
			code:   1, want: `mcpServers[1].name: duplicate name "a" (also mcpServers[0])`,
		},
		{
			name:   "BadJSON",
			config: "{\n  \"listen\": \"127.0.0.1:0\",\n  \"mcpServers\": [\n",
			code:   1, want: "line 4, column 1: unexpected end of input",
		},
		{
			name:   "ToolsLimit",
			config: `{"tools_limit": 0}`,
			code:   1, want: "tools_limit: must be between 1 and 100, got 0",
		},
		{
			name:   "UnusableEnvListen",
			config: `{"api_key": "k"}`,
			env:    []string{"MCPPROXY_LISTEN=127.0.0.1:99999"},
			code:   1, want: "listen on 127.0.0.1:99999",
		},
		{
			name:   "ExposedShortFileKey",
			config: `{"api_key": "short"}`,
			env:    []string{"MCPPROXY_LISTEN=0.0.0.0:0"},
			code:   1, want: "listen 0.0.0.0:0 is not a loopback address: set an api_key of at least 16 characters (or MCPPROXY_API_KEY) before exposing mcpproxy",
		},
		{
			name:   "ExposedShortEnvKey",
			config: `{"api_key": "a-file-key-that-is-long-enough"}`,
			env:    []string{"MCPPROXY_LISTEN=:0", "MCPPROXY_API_KEY=short"},
			code:   1, want: "listen :0 is not a loopback address: set an api_key of at least 16",
		},
		{
			name:   "ExposedByFlag15Chars",
			config: `{"api_key": "fifteen-chars!!"}`,
			env:    []string{"MCPPROXY_LISTEN=127.0.0.1:0"},
			args:   []string{"-l", "0.0.0.0:0"},
			code:   1, want: "listen 0.0.0.0:0 is not a loopback address",
		},
		{
			name:   "BadLogLevel",
			config: `{}`,
			args:   []string{"--log-level", "loud"},
			code:   2, want: `--log-level: want debug, info, warn or error, got "loud"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "mcp_config.json")
			if err := os.WriteFile(path, []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			addr := freeAddr(t)
			args := []string{"serve", "-c", path}
			if tt.env == nil {
				args = append(args, "-l", addr)
			}
			p := launch(t, dir, append(args, tt.args...), append(tt.env, "MCPPROXY_DATA_DIR="+filepath.Join(dir, "data"))...)
			code := p.waitExit(t, 10*time.Second)
			stderr := p.stderr.String()
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not name the problem %q:\n%s", tt.want, stderr)
			}
			if !strings.HasPrefix(stderr, "mcpproxy: ") {
				t.Errorf("stderr does not start with \"mcpproxy: \":\n%s", stderr)
			}
			if out := p.stdout.String(); strings.Contains(out, "listen:") {
				t.Errorf("printed a startup block for a config it rejected:\n%s", out)
			}
			if tt.env == nil && listening(addr) {
				t.Errorf("something listens on %s after a rejected start", addr)
			}
			if now, _ := os.ReadFile(path); string(now) != tt.config {
				t.Errorf("rejected config file was rewritten:\n%s", now)
			}
		})
	}
}

// TestServe_ExposedListen: off loopback the daemon starts only with a key
// of at least 16 characters, and then the MCP endpoints want it too.
func TestServe_ExposedListen(t *testing.T) {
	start := func(t *testing.T, cfg string, env ...string) *proxy {
		t.Helper()
		dir := t.TempDir()
		path := filepath.Join(dir, "mcp_config.json")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		p := launch(t, dir, []string{"serve", "-c", path, "-l", "0.0.0.0:0"}, append(env, "MCPPROXY_DATA_DIR="+filepath.Join(dir, "data"))...)
		p.ConfigPath = path
		p.waitStarted(t)
		// Go shows the wildcard address as 0.0.0.0 or [::]; reach it over
		// loopback.
		host, port, err := net.SplitHostPort(strings.TrimPrefix(p.Base, "http://"))
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsUnspecified() {
			t.Fatalf("listening on %s, want every interface", p.Base)
		}
		p.Base = "http://127.0.0.1:" + port
		return p
	}
	t.Run("SixteenCharacterKey", func(t *testing.T) {
		p := start(t, `{"api_key": "short"}`, "MCPPROXY_API_KEY=sixteen-chars!!!")
		p.Key = "sixteen-chars!!!"
		p.data(t, "GET", "/api/v1/status", nil)
		if code, body := p.request(t, "POST", "/mcp", ""); code != 401 {
			t.Errorf("POST /mcp without key off loopback: %d %s, want 401", code, body)
		}
		if code, body := p.request(t, "GET", "/metrics", ""); code != 401 {
			t.Errorf("GET /metrics without key off loopback: %d %s, want 401", code, body)
		}
		if code, body := p.request(t, "GET", "/metrics", p.Key); code != 200 || !strings.Contains(string(body), "mcpproxy_servers") {
			t.Errorf("GET /metrics with key off loopback: %d %s, want 200 with metrics", code, body)
		}
	})
	t.Run("GeneratedKey", func(t *testing.T) {
		p := start(t, `{"mcpServers": []}`)
		key, _ := readConfig(t, p.ConfigPath)["api_key"].(string)
		if len(key) != 64 {
			t.Fatalf("generated api_key %q, want 64 characters", key)
		}
		p.Key = key
		p.data(t, "GET", "/api/v1/status", nil)
	})
}

// TestServe_ManageServers: servers added, changed and removed over REST
// reach the file and the running daemon; the file's policy refuses.
func TestServe_ManageServers(t *testing.T) {
	p := startProxy(t, configJSON(t, nil))
	entry := func(name string) map[string]any {
		t.Helper()
		servers, _ := readConfig(t, p.ConfigPath)["mcpServers"].([]any)
		for _, s := range servers {
			if m, _ := s.(map[string]any); m["name"] == name {
				return m
			}
		}
		return nil
	}

	code, body := p.send(t, "POST", "/api/v1/servers", mustJSON(t, stdio("added", testupstream.ModeOK)))
	if code != 201 || !strings.Contains(string(body), `"quarantined":false`) {
		t.Fatalf("POST /api/v1/servers: %d %s, want 201, not quarantined", code, body)
	}
	if e := entry("added"); e == nil || e["enabled"] != true || e["quarantined"] != nil {
		t.Errorf("file entry %v, want enabled and no quarantine", e)
	}
	p.waitState(t, "added", 30*time.Second, "ready")
	if code, body := p.send(t, "POST", "/api/v1/servers", mustJSON(t, stdio("added", testupstream.ModeOK))); code != 409 {
		t.Errorf("second POST of the same name: %d %s, want 409", code, body)
	}

	if code, body := p.send(t, "PATCH", "/api/v1/servers/added", `{"enabled": false, "call_timeout": "9s"}`); code != 200 {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	if e := entry("added"); e["enabled"] != false || e["call_timeout"] != "9s" || e["command"] == nil {
		t.Errorf("file entry after PATCH %v", e)
	}
	p.waitState(t, "added", 10*time.Second, "disabled")

	if code, body := p.send(t, "DELETE", "/api/v1/servers/added", ""); code != 200 {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if e := entry("added"); e != nil {
		t.Errorf("file still holds %v", e)
	}
	eventually(t, 10*time.Second, func() error {
		if _, ok := p.servers(t)["added"]; ok {
			return fmt.Errorf("removed server still listed")
		}
		return nil
	})

	// A hand edit turns on read_only; once it is applied the API refuses.
	type status struct {
		ConfigVersion uint64 `json:"config_version"`
		ConfigError   string `json:"config_error"`
	}
	var before status
	p.data(t, "GET", "/api/v1/status", &before)
	data, _ := os.ReadFile(p.ConfigPath)
	writeFileLikeEditor(t, p.ConfigPath, bytes.Replace(data, []byte(`{`), []byte(`{"read_only": true, `), 1))
	eventually(t, 10*time.Second, func() error {
		var st status
		p.data(t, "GET", "/api/v1/status", &st)
		if st.ConfigVersion == before.ConfigVersion || st.ConfigError != "" {
			return fmt.Errorf("edit not applied: %+v", st)
		}
		return nil
	})
	code, body = p.send(t, "POST", "/api/v1/servers", mustJSON(t, stdio("late", testupstream.ModeOK)))
	if code != 403 || !strings.Contains(string(body), "(read_only in its config)") {
		t.Errorf("POST under read_only: %d %s, want 403 naming read_only", code, body)
	}
	if e := entry("late"); e != nil {
		t.Errorf("a refused add reached the file: %v", e)
	}
}

// TestServe_HealthAndAuth: health endpoints answer at once while every
// upstream hangs; the API wants the key.
func TestServe_HealthAndAuth(t *testing.T) {
	hanging := testupstream.StartHanging(t)
	servers := []map[string]any{
		stdio("hang-1", testupstream.ModeHang),
		stdio("hang-2", testupstream.ModeHang),
		stdio("hang-3", testupstream.ModeHang),
		{"name": "http-hang", "url": hanging.URL, "protocol": "streamable-http", "connect_timeout": "1h"},
	}
	p := startProxy(t, configJSON(t, servers))

	for _, path := range []string{"/readyz", "/healthz"} {
		code, body := p.request(t, "GET", path, "")
		var env envelope
		if err := json.Unmarshal(body, &env); code != 200 || err != nil || !env.Success {
			t.Errorf("GET %s = %d %s, want 200 success", path, code, body)
		}
	}
	var status struct {
		Servers int            `json:"servers"`
		Counts  map[string]int `json:"counts"`
	}
	p.data(t, "GET", "/api/v1/status", &status)
	if status.Servers != 4 || status.Counts["ready"] != 0 {
		t.Errorf("status = %+v, want 4 servers, none ready", status)
	}
	for name, s := range p.servers(t) {
		if s.State != "connecting" {
			t.Errorf("server %s is %s (%s), want connecting", name, s.State, s.LastError)
		}
	}

	for _, tc := range []struct {
		name, path, key string
	}{
		{"NoKey", "/api/v1/status", ""},
		{"WrongKey", "/api/v1/status", "wrong"},
		{"NoKeyServers", "/api/v1/servers", ""},
		{"NoKeyEvents", "/events", ""},
	} {
		code, body := p.request(t, "GET", tc.path, tc.key)
		var env envelope
		json.Unmarshal(body, &env)
		if code != 401 || env.Success || env.Error == nil || env.Error.Code != "unauthorized" || env.Error.Message == "" {
			t.Errorf("%s: GET %s = %d %s, want 401 with an unauthorized error envelope", tc.name, tc.path, code, body)
		}
	}
	if code, body := p.request(t, "GET", "/api/v1/status?apikey="+p.Key, ""); code != 200 {
		t.Errorf("?apikey=: %d %s", code, body)
	}
	req, _ := newRequest(p, "GET", "/api/v1/status")
	req.Header.Set("Authorization", "Bearer "+p.Key)
	if resp, err := p.client.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("Authorization: Bearer: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

// TestServe_ServerStates: servers that work, hang, exit at once or cannot be
// started each show what happened to them.
func TestServe_ServerStates(t *testing.T) {
	servers := []map[string]any{
		stdio("ok", testupstream.ModeOK, testupstream.EnvTools+"=3"),
		stdio("hang", testupstream.ModeHang),
		stdio("exit", testupstream.ModeExit),
		{"name": "missing", "command": "mcpproxy-e2e-no-such-command"},
		{"name": "off", "command": "mcpproxy-e2e-no-such-command", "enabled": false},
	}
	p := startProxy(t, configJSON(t, servers))
	if out := waitStdout(t, p, "  api:"); !strings.Contains(out, "  servers:   5 configured, 4 enabled\n") {
		t.Errorf("startup block does not count 5 configured, 4 enabled:\n%s", out)
	}
	if s := p.servers(t)["off"]; s.State != "disabled" || s.Enabled || s.LastError != "" {
		t.Errorf("off = %+v, want disabled and never started", s)
	}

	ok := p.waitState(t, "ok", 30*time.Second, "ready")
	if ok.PID == 0 || ok.ToolCount != 9 || ok.Protocol != "stdio" {
		t.Errorf("ok = %+v, want a pid, 9 tools, stdio", ok)
	}
	var names []string
	for _, tl := range p.tools(t, "ok") {
		names = append(names, tl.Name)
		if tl.Name == "echo" && !bytes.Contains(tl.InputSchema, []byte(`"message"`)) {
			t.Errorf("echo input schema lacks message: %s", tl.InputSchema)
		}
	}
	for _, want := range []string{"echo", "add", "sleep", "fail", "add_tool", "remove_tool", "tool_0", "tool_2"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools of ok = %v, missing %q", names, want)
		}
	}

	eventually(t, 15*time.Second, func() error {
		s := p.servers(t)["exit"]
		if s.State != "error" || !strings.Contains(s.LastError, "fatal: scripted exit") {
			return fmt.Errorf("exit = %+v, want error with its stderr line", s)
		}
		return nil
	})
	eventually(t, 15*time.Second, func() error {
		s := p.servers(t)["missing"]
		if s.State != "error" || !strings.Contains(s.LastError, "executable file not found") {
			return fmt.Errorf("missing = %+v, want error \"executable file not found\"", s)
		}
		return nil
	})
	if s := p.servers(t)["hang"]; s.State != "connecting" && s.State != "error" {
		t.Errorf("hang = %+v, want connecting or error", s)
	}

	var logs struct {
		Server string   `json:"server"`
		Lines  []string `json:"lines"`
		File   string   `json:"file"`
	}
	p.data(t, "GET", "/api/v1/servers/exit/logs?tail=5", &logs)
	if len(logs.Lines) == 0 || len(logs.Lines) > 5 || !slices.Contains(logs.Lines, "fatal: scripted exit") {
		t.Errorf("logs of exit = %q, want at most 5 lines with \"fatal: scripted exit\"", logs.Lines)
	}
	file := filepath.Join(p.DataDir, "logs", "server-exit.log")
	if logs.File != file {
		t.Errorf("logs file = %q, want %q", logs.File, file)
	}
	eventually(t, 5*time.Second, func() error {
		b, err := os.ReadFile(file)
		if err != nil || !bytes.Contains(b, []byte("fatal: scripted exit")) {
			return fmt.Errorf("log file %s: %v %q", file, err, b)
		}
		return nil
	})
	eventually(t, 5*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(p.DataDir, "logs", "server-ok.log"))
		if want := fmt.Sprintf("testupstream ready pid=%d", ok.PID); err != nil || !bytes.Contains(b, []byte(want)) {
			return fmt.Errorf("server-ok.log: %v, want %q in %q", err, want, b)
		}
		return nil
	})
	var ready []serverStatus
	p.data(t, "GET", "/api/v1/servers?state=ready", &ready)
	if len(ready) != 1 || ready[0].Name != "ok" {
		t.Errorf("?state=ready lists %+v, want only ok", ready)
	}
	if code, body := p.request(t, "GET", "/api/v1/servers/nope/tools", p.Key); code != 404 {
		t.Errorf("tools of an unknown server: %d %s, want 404", code, body)
	}
}

// TestServe_EventsAndDisable: disabling through the API streams the state
// changes, persists enabled:false without losing anything else in the file,
// and enabling brings the server back.
func TestServe_EventsAndDisable(t *testing.T) {
	a := stdio("alpha", testupstream.ModeOK)
	a["x_note"] = "keep me"
	servers := []map[string]any{a, stdio("beta", testupstream.ModeOK), stdio("gamma", testupstream.ModeHang)}
	p := startProxy(t, configJSON(t, servers, "x_custom", map[string]any{"keep": []int{1, 2, 3}}))
	p.waitState(t, "alpha", 30*time.Second, "ready")
	p.waitState(t, "beta", 30*time.Second, "ready")

	ev := p.subscribe(t)
	first := ev.next(t, 5*time.Second)
	if first.Type != "snapshot" {
		t.Fatalf("first event is %q, want snapshot", first.Type)
	}
	var snap struct {
		Status struct {
			Servers int `json:"servers"`
		} `json:"status"`
		Servers []serverStatus `json:"servers"`
	}
	if err := json.Unmarshal(first.Data, &snap); err != nil || snap.Status.Servers != 3 || len(snap.Servers) != 3 {
		t.Errorf("snapshot = %s (%v), want 3 servers", first.Data, err)
	}
	pid := p.servers(t)["alpha"].PID
	child, _ := procOf(pid)

	var res struct {
		Server  string `json:"server"`
		Enabled bool   `json:"enabled"`
	}
	p.data(t, "POST", "/api/v1/servers/alpha/disable", &res)
	if res.Server != "alpha" || res.Enabled {
		t.Errorf("disable answered %+v", res)
	}
	isState := func(state string) func(event) bool {
		return func(e event) bool {
			return e.Type == "server.state_changed" && e.Server == "alpha" && e.state() == state
		}
	}
	ev.waitFor(t, 10*time.Second, "alpha stopping", isState("stopping"))
	ev.waitFor(t, 10*time.Second, "alpha disabled", isState("disabled"))
	if s := p.servers(t)["alpha"]; s.State != "disabled" || s.Enabled {
		t.Errorf("alpha after disable = %+v", s)
	}
	if child.PID != 0 && child.alive() {
		t.Errorf("alpha's child %s still runs after disable", child)
	}

	cfg := readConfig(t, p.ConfigPath)
	if _, ok := cfg["x_custom"]; !ok {
		t.Errorf("unknown top-level field x_custom lost: %v", cfg)
	}
	if cfg["api_key"] != testKey || cfg["data_dir"] != p.DataDir {
		t.Errorf("api_key/data_dir changed: %v %v", cfg["api_key"], cfg["data_dir"])
	}
	list, _ := cfg["mcpServers"].([]any)
	got := map[string]map[string]any{}
	for _, s := range list {
		m := s.(map[string]any)
		got[m["name"].(string)] = m
	}
	if len(got) != 3 {
		t.Fatalf("config file servers = %v, want alpha, beta, gamma", list)
	}
	if got["alpha"]["enabled"] != false || got["alpha"]["x_note"] != "keep me" || got["alpha"]["command"] != a["command"] {
		t.Errorf("alpha in file = %v, want enabled:false, x_note and command kept", got["alpha"])
	}
	if e, ok := got["beta"]["enabled"]; ok && e != true {
		t.Errorf("beta in file = %v", got["beta"])
	}

	p.data(t, "POST", "/api/v1/servers/alpha/enable", nil)
	ev.waitFor(t, 30*time.Second, "alpha ready", isState("ready"))
	if s := p.servers(t)["alpha"]; s.State != "ready" || s.PID == 0 || s.PID == pid {
		t.Errorf("alpha after enable = %+v, want ready with a new pid", s)
	}
	if e := readConfig(t, p.ConfigPath)["mcpServers"].([]any)[0].(map[string]any)["enabled"]; e != true {
		t.Errorf("alpha enabled in file = %v after enable", e)
	}
	beta := p.servers(t)["beta"]
	betaChild, _ := procOf(beta.PID)
	if code, body := p.request(t, "POST", "/api/v1/servers/beta/restart", p.Key); code != 202 {
		t.Errorf("restart beta: %d %s, want 202", code, body)
	}
	eventually(t, 30*time.Second, func() error {
		if s := p.servers(t)["beta"]; s.State != "ready" || s.PID == beta.PID {
			return fmt.Errorf("beta = %+v, want ready with a pid other than %d", s, beta.PID)
		}
		return nil
	})
	if left := waitDead([]proc{betaChild}, 5*time.Second); len(left) > 0 {
		t.Errorf("beta's old child survives a restart: %s", describe(left))
	}
	p.data(t, "POST", "/api/v1/servers/beta/disable", nil)
	if code, body := p.request(t, "POST", "/api/v1/servers/beta/restart", p.Key); code != 409 {
		t.Errorf("restart a disabled server: %d %s, want 409", code, body)
	}
	if code, body := p.request(t, "POST", "/api/v1/servers/nope/disable", p.Key); code != 404 {
		t.Errorf("disable an unknown server: %d %s, want 404", code, body)
	}
}

// TestServe_HotReload edits the config file by hand while the daemon runs.
func TestServe_HotReload(t *testing.T) {
	servers := []map[string]any{
		stdio("a", testupstream.ModeOK),
		stdio("b", testupstream.ModeOK),
		stdio("c", testupstream.ModeOK),
	}
	servers[2]["args"] = []string{"-gen=1"}
	servers = append(servers, stdio("h", testupstream.ModeHang))
	p := startProxy(t, configJSON(t, servers))
	for _, n := range []string{"a", "b", "c"} {
		p.waitState(t, n, 30*time.Second, "ready")
	}
	// edit rewrites the file from the current server list, keeping the
	// keys startProxy added.
	edit := func(t *testing.T, servers []map[string]any) {
		t.Helper()
		writeFileLikeEditor(t, p.ConfigPath, []byte(configJSON(t, servers, "api_key", p.Key, "data_dir", p.DataDir)))
	}

	t.Run("Add", func(t *testing.T) {
		servers = append(servers, stdio("d", testupstream.ModeOK))
		edit(t, servers)
		p.waitState(t, "d", 30*time.Second, "ready")
	})

	t.Run("Remove", func(t *testing.T) {
		b := p.servers(t)["b"]
		child, ok := procOf(b.PID)
		if !ok {
			t.Fatalf("b = %+v: no live child", b)
		}
		servers = slices.DeleteFunc(servers, func(s map[string]any) bool { return s["name"] == "b" })
		edit(t, servers)
		eventually(t, 10*time.Second, func() error {
			if s, ok := p.servers(t)["b"]; ok {
				return fmt.Errorf("b still listed: %+v", s)
			}
			return nil
		})
		if left := waitDead([]proc{child}, 5*time.Second); len(left) > 0 {
			t.Errorf("removed server's child survives: %s", describe(left))
		}
	})

	t.Run("RemoveConnecting", func(t *testing.T) {
		p.waitState(t, "h", 10*time.Second, "connecting")
		var child proc
		eventually(t, 10*time.Second, func() (err error) {
			child, err = p.childOf("h")
			return err
		})
		servers = slices.DeleteFunc(servers, func(s map[string]any) bool { return s["name"] == "h" })
		edit(t, servers)
		eventually(t, 10*time.Second, func() error {
			if s, ok := p.servers(t)["h"]; ok {
				return fmt.Errorf("h still listed: %+v", s)
			}
			return nil
		})
		if left := waitDead([]proc{child}, 5*time.Second); len(left) > 0 {
			t.Errorf("removed connecting server's child survives: %s", describe(left))
		}
	})

	t.Run("ChangeArgs", func(t *testing.T) {
		old := p.servers(t)["c"]
		child, _ := procOf(old.PID)
		i := slices.IndexFunc(servers, func(s map[string]any) bool { return s["name"] == "c" })
		servers[i]["args"] = []string{"-gen=2"}
		edit(t, servers)
		eventually(t, 30*time.Second, func() error {
			s := p.servers(t)["c"]
			if s.State != "ready" || s.PID == old.PID || s.PID == 0 {
				return fmt.Errorf("c = %+v, want ready with a pid other than %d", s, old.PID)
			}
			return nil
		})
		if left := waitDead([]proc{child}, 5*time.Second); len(left) > 0 {
			t.Errorf("c's old child survives its restart: %s", describe(left))
		}
	})

	before := p.servers(t)
	unchanged := func(t *testing.T) {
		t.Helper()
		now := p.servers(t)
		if len(now) != len(before) {
			t.Errorf("servers after a rejected edit = %v, want %v", now, before)
		}
		for n, s := range before {
			if now[n].PID != s.PID || now[n].State != s.State {
				t.Errorf("%s changed after a rejected edit: %+v -> %+v", n, s, now[n])
			}
		}
	}
	type statusBody struct {
		ConfigError   string `json:"config_error"`
		ConfigVersion uint64 `json:"config_version"`
	}

	for _, tc := range []struct {
		name, content, want string
	}{
		{"BadJSON", `{"mcpServers": [`, "unexpected end of input"},
		{"Empty", ``, "config: empty"},
		{"Deleted", "<delete>", "no such file"},
		{"BadField", configJSON(t, append(slices.Clone(servers), map[string]any{"name": "x", "url": "htp:/x"}), "api_key", p.Key, "data_dir", p.DataDir),
			`mcpServers[3].url: invalid URL "htp:/x"`},
	} {
		t.Run("Invalid"+tc.name, func(t *testing.T) {
			ev := p.subscribe(t)
			ev.next(t, 5*time.Second) // snapshot
			var st0 statusBody
			p.data(t, "GET", "/api/v1/status", &st0)
			if tc.content == "<delete>" {
				if err := os.Remove(p.ConfigPath); err != nil {
					t.Fatal(err)
				}
			} else {
				writeFileLikeEditor(t, p.ConfigPath, []byte(tc.content))
			}
			e := ev.waitFor(t, 10*time.Second, "config.error", func(e event) bool { return e.Type == "config.error" })
			var data struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(e.Data, &data); err != nil || !strings.Contains(data.Error, tc.want) {
				t.Errorf("config.error event data = %s, want an error mentioning %q", e.Data, tc.want)
			}
			var st statusBody
			p.data(t, "GET", "/api/v1/status", &st)
			if !strings.Contains(st.ConfigError, tc.want) {
				t.Errorf("status config_error = %q, want it to mention %q", st.ConfigError, tc.want)
			}
			if st.ConfigVersion != st0.ConfigVersion {
				t.Errorf("config_version %d -> %d on a rejected edit", st0.ConfigVersion, st.ConfigVersion)
			}
			unchanged(t)

			// Fix it: put back exactly the last good content.
			edit(t, servers)
			eventually(t, 10*time.Second, func() error {
				var st statusBody
				p.data(t, "GET", "/api/v1/status", &st)
				if st.ConfigError != "" {
					return fmt.Errorf("config_error still %q after the file was restored", st.ConfigError)
				}
				return nil
			})
			ev.waitFor(t, 5*time.Second, "config.reloaded", func(e event) bool { return e.Type == "config.reloaded" })
			unchanged(t)
		})
	}
}

func newRequest(p *proxy, method, path string) (*http.Request, error) {
	return http.NewRequest(method, p.Base+path, nil)
}

// settle waits until every named server is in its wanted state and returns
// the list.
func settle(tb testing.TB, p *proxy, d time.Duration, want map[string]string) map[string]serverStatus {
	tb.Helper()
	var list map[string]serverStatus
	eventually(tb, d, func() error {
		list = p.servers(tb)
		var bad []string
		for n, st := range want {
			if list[n].State != st {
				bad = append(bad, fmt.Sprintf("%s=%s(%s)", n, list[n].State, list[n].LastError))
			}
		}
		if len(bad) > 0 {
			slices.Sort(bad)
			return fmt.Errorf("%d servers not settled: %v", len(bad), bad)
		}
		return nil
	})
	return list
}

var grandchildRE = regexp.MustCompile(`grandchild pid=(\d+)`)

// grandchild returns the grandchild a spawn-child server reported on stderr.
func grandchild(tb testing.TB, p *proxy, name string) proc {
	tb.Helper()
	var logs struct {
		Lines []string `json:"lines"`
	}
	p.data(tb, "GET", "/api/v1/servers/"+name+"/logs", &logs)
	for _, l := range logs.Lines {
		if m := grandchildRE.FindStringSubmatch(l); m != nil {
			pid, _ := strconv.Atoi(m[1])
			pr, ok := procOf(pid)
			if !ok {
				tb.Fatalf("%s: grandchild %d is not running", name, pid)
			}
			return pr
		}
	}
	tb.Fatalf("%s: no \"grandchild pid=\" line in %q", name, logs.Lines)
	return proc{}
}

// TestServe_GracefulShutdown: SIGTERM stops 20 upstreams, some of which
// hang or ignore SIGTERM, without hanging, exits 0 and leaves no process
// behind.
func TestServe_GracefulShutdown(t *testing.T) {
	var servers []map[string]any
	want := map[string]string{}
	add := func(mode, state string, n int) {
		for i := range n {
			name := fmt.Sprintf("%s-%d", mode, i)
			servers = append(servers, stdio(name, mode))
			want[name] = state
		}
	}
	add(testupstream.ModeOK, "ready", 10)
	add(testupstream.ModeHang, "connecting", 4)
	add(testupstream.ModeIgnoreTerm, "ready", 4)
	add(testupstream.ModeSpawnChild, "ready", 2)
	p := startProxy(t, configJSON(t, servers))
	list := settle(t, p, 60*time.Second, want)

	procs := p.track(t)
	for name, s := range list {
		if s.State == "ready" && !slices.ContainsFunc(procs, func(pr proc) bool { return pr.PID == s.PID }) {
			t.Errorf("%s reports pid %d, which is not a live descendant of mcpproxy", name, s.PID)
		}
	}
	for _, name := range []string{"spawn-child-0", "spawn-child-1"} {
		g := grandchild(t, p, name)
		if !slices.Contains(procs, g) {
			t.Errorf("%s's grandchild %s is not a descendant of mcpproxy", name, g)
		}
	}
	// The stdio servers run under mcpproxy's one keeper: the keeper, 20
	// servers and the two grandchildren.
	if len(procs) != 23 {
		t.Errorf("mcpproxy has %d descendants, want the keeper, 20 servers and 2 grandchildren: %s", len(procs), describe(procs))
	}

	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	// By design the exit takes the 2 s SIGTERM grace of the servers that
	// ignore it, plus the kill; the bound only catches a shutdown that
	// hangs, with room for a loaded CI machine under -race. The exit time
	// itself is logged, and measured by the benchmarks.
	code := p.waitExit(t, 15*time.Second)
	t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	if code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	// Close reaps every child before exiting; a grandchild gets SIGKILL
	// just before, so allow it the moment a signal takes.
	if left := waitDead(procs, time.Second); len(left) > 0 {
		t.Errorf("processes survive a graceful shutdown: %s", describe(left))
	}
}

// TestServe_Kill9LeavesNoOrphans: when mcpproxy is killed with SIGKILL it
// cannot clean up, so its children must die on their own (parent-death
// signal, stdin EOF) — and so must what they started.
func TestServe_Kill9LeavesNoOrphans(t *testing.T) {
	var servers []map[string]any
	want := map[string]string{}
	for i := range 10 {
		name := fmt.Sprintf("ok-%d", i)
		servers = append(servers, stdio(name, testupstream.ModeOK))
		want[name] = "ready"
	}
	servers = append(servers, stdio("spawner", testupstream.ModeSpawnChild), stdio("escaper", testupstream.ModeSpawnEscaped))
	want["spawner"], want["escaper"] = "ready", "ready"
	p := startProxy(t, configJSON(t, servers))
	list := settle(t, p, 60*time.Second, want)

	procs := p.track(t)
	g, escaped := grandchild(t, p, "spawner"), grandchild(t, p, "escaper")
	if len(procs) != 15 || !slices.Contains(procs, g) || !slices.Contains(procs, escaped) {
		t.Fatalf("descendants = %s, want the keeper, 12 servers and grandchildren %s and %s", describe(procs), g, escaped)
	}
	if sid, _ := unix.Getsid(escaped.PID); sid != escaped.PID {
		t.Fatalf("escaper's grandchild %s is in session %d: it did not leave its server's session", escaped, sid)
	}
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
	p.cmd.Process.Kill()
	p.waitExit(t, 5*time.Second)

	left := waitDead(procs, 5*time.Second)
	if len(left) == 0 {
		return
	}
	children := map[int]string{}
	for n, s := range list {
		children[s.PID] = n
	}
	for _, pr := range left {
		switch {
		case pr == escaped:
			t.Errorf("escaper's grandchild %s, in a session of its own, outlives kill -9 of mcpproxy by 5s", pr)
		case pr == g:
			t.Errorf("spawner's grandchild %s outlives kill -9 of mcpproxy by 5s: it is not mcpproxy's child, so "+
				"the parent-death signal does not reach it, and nobody is left to kill its process group", pr)
		case children[pr.PID] != "":
			t.Errorf("server %s's child %s outlives kill -9 of mcpproxy by 5s", children[pr.PID], pr)
		default:
			t.Errorf("%s outlives kill -9 of mcpproxy by 5s", pr)
		}
	}
}

// TestServe_SymlinkedConfig: a config file that is a symlink (as dotfile
// managers make) stays one when mcpproxy writes it, and edits of its target
// are picked up.
func TestServe_SymlinkedConfig(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "dotfiles", "mcp.json")
	link := filepath.Join(dir, "mcp_config.json")
	servers := []map[string]any{stdio("one", testupstream.ModeOK)}
	body := func() []byte {
		return []byte(configJSON(t, servers, "api_key", testKey, "data_dir", filepath.Join(dir, "data")))
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, body(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	p := launch(t, dir, []string{"serve", "-c", link, "-l", "127.0.0.1:0"})
	p.waitStarted(t)
	p.Key, p.ConfigPath = testKey, link
	p.waitState(t, "one", 30*time.Second, "ready")

	p.data(t, "POST", "/api/v1/servers/one/disable", nil)
	p.waitState(t, "one", 10*time.Second, "disabled")
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("%s is no longer a symlink after mcpproxy wrote the config (%v)", link, err)
	}
	if e := readConfig(t, target)["mcpServers"].([]any)[0].(map[string]any)["enabled"]; e != false {
		t.Errorf("symlink target not updated: enabled = %v", e)
	}

	servers = append(servers, stdio("two", testupstream.ModeOK))
	servers[0]["enabled"] = false
	writeFileLikeEditor(t, target, body())
	p.waitState(t, "two", 30*time.Second, "ready")
	if s := p.servers(t)["one"]; s.State != "disabled" {
		t.Errorf("one = %+v after an edit that keeps it disabled", s)
	}
}

// TestServe_IndexSurvivesRestart: the tool index lives under the data dir,
// and a restarted daemon finds the tools of a server once it is ready again.
func TestServe_IndexSurvivesRestart(t *testing.T) {
	p := startProxy(t, configJSON(t, []map[string]any{stdio("good", testupstream.ModeOK)}))
	search := func(p *proxy) error {
		var found []struct{ ID string }
		p.data(t, "GET", "/api/v1/tools/search?q=echo+message", &found)
		for _, f := range found {
			if f.ID == "good:echo" {
				return nil
			}
		}
		return fmt.Errorf("search found %v, want good:echo", found)
	}
	p.waitState(t, "good", 30*time.Second, "ready")
	eventually(t, 10*time.Second, func() error { return search(p) })
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.waitExit(t, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if fi, err := os.Stat(filepath.Join(p.DataDir, "index")); err != nil || !fi.IsDir() {
		t.Fatalf("no index directory under the data dir: %v", err)
	}

	q := launch(t, p.Dir, []string{"serve", "-c", p.ConfigPath, "-l", "127.0.0.1:0"})
	q.ConfigPath, q.DataDir, q.Key = p.ConfigPath, p.DataDir, p.Key
	q.waitStarted(t)
	q.waitState(t, "good", 30*time.Second, "ready")
	eventually(t, 10*time.Second, func() error { return search(q) })
	if strings.Contains(q.stderr.String(), "tool index: rebuilding") {
		t.Errorf("the index was rebuilt on restart:\n%s", tail(q.stderr.String(), 20))
	}
}

// TestServe_KeyAcceptedFromTheFirstRequest: a daemon answers its API key
// from the first request it serves, not only once its config is applied (a
// UI open across a restart polled in that window, was refused, and dropped
// its key).
func TestServe_KeyAcceptedFromTheFirstRequest(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mcp_config.json")
	data := `{"api_key": "` + testKey + `", "data_dir": "` + filepath.Join(dir, "data") + `", "mcpServers": [` +
		`{"name": "a", "command": "/nonexistent/mcpproxy-test"}]}`
	if err := os.WriteFile(cfg, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	codes := make(chan int, 1<<16)
	go func() {
		defer close(codes)
		client := &http.Client{Timeout: time.Second}
		for {
			select {
			case <-done:
				return
			default:
			}
			req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/status", nil)
			req.Header.Set("X-API-Key", testKey)
			resp, err := client.Do(req)
			if err != nil {
				continue // not listening yet
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}
	}()
	p := launch(t, dir, []string{"serve", "-c", cfg, "-l", addr})
	p.waitStarted(t)
	eventually(t, 10*time.Second, func() error {
		if len(codes) < 20 {
			return fmt.Errorf("%d answers so far", len(codes))
		}
		return nil
	})
	close(done)
	counts := map[int]int{}
	for c := range codes {
		counts[c]++
	}
	if counts[http.StatusUnauthorized] > 0 || counts[http.StatusOK] == 0 {
		t.Errorf("answers to the right key from the start: %v; want only 200", counts)
	}
}
