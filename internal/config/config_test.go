package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

func TestParse_Errors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		// Syntax and shape.
		{"Syntax", "{\n  \"listen\": \"x\",\n  \"tools_limit\": 1,\n  \"mcpServers\": [x]\n}",
			`config: line 4, column 18: invalid character 'x' looking for beginning of value`},
		{"TrailingComma", "{\n  \"listen\": \"127.0.0.1:1\",\n}",
			`config: line 3, column 1: invalid character '}' looking for beginning of object key string`},
		{"Truncated", `{"listen": `, `config: line 1, column 12: unexpected end of input`},
		{"TrailingData", "{}\n}", `config: line 2, column 1: invalid character '}' after top-level value`},
		{"Empty", " \n", `config: empty, want a JSON object`},
		{"NotObject", `[]`, `config: want a JSON object`},

		// Wrong types name the field.
		{"ArgsType", `{"mcpServers": [{"name": "a", "command": "x"}, {"name": "b", "command": "x", "args": "-v"}]}`,
			`mcpServers[1].args: want array of strings, got string`},
		{"ArgsElemType", `{"mcpServers": [{"name": "a", "command": "x", "args": ["-v", 1]}]}`,
			`mcpServers[0].args[1]: want string, got number`},
		{"EnvType", `{"mcpServers": [{"name": "a", "command": "x", "env": {"A": 1}}]}`,
			`mcpServers[0].env.A: want string, got number`},
		{"HeadersType", `{"mcpServers": [{"name": "a", "url": "http://h", "headers": ["x"]}]}`,
			`mcpServers[0].headers: want object of strings, got array`},
		{"EnabledType", `{"mcpServers": [{"name": "a", "command": "x", "enabled": "yes"}]}`,
			`mcpServers[0].enabled: want true or false, got string`},
		{"NameType", `{"mcpServers": [{"name": 7, "command": "x"}]}`, `mcpServers[0].name: want string, got number`},
		{"DurationString", `{"mcpServers": [{"name": "a", "command": "x", "call_timeout": "abc"}]}`,
			`mcpServers[0].call_timeout: invalid duration "abc"`},
		{"DurationObject", `{"connect_timeout": {}}`, `connect_timeout: want a duration like "30s", got {}`},
		{"ToolsLimitType", `{"tools_limit": "15"}`, `tools_limit: want integer, got string`},
		{"ToolsLimitFraction", `{"tools_limit": 1.5}`, `tools_limit: want integer, got number`},
		{"ListenType", `{"listen": 8080}`, `listen: want string, got number`},
		{"ServersType", `{"mcpServers": 5}`, `mcpServers: want array or object of servers`},
		{"ServerNotObject", `{"mcpServers": ["a"]}`, `mcpServers[0]: want object`},
		{"MapServerNotObject", `{"mcpServers": {"a": true}}`, `mcpServers.a: want object`},

		// Server rules.
		{"NameInvalid", `{"mcpServers": [{"name": "a b", "command": "x"}]}`,
			`mcpServers[0].name: invalid name "a b": use 1-64 of A-Z a-z 0-9 _ . -`},
		{"NameTooLong", `{"mcpServers": [{"name": "` + strings.Repeat("a", 65) + `", "command": "x"}]}`,
			`mcpServers[0].name: invalid name "` + strings.Repeat("a", 65) + `": use 1-64 of A-Z a-z 0-9 _ . -`},
		{"NameDot", `{"mcpServers": [{"name": ".", "command": "x"}]}`,
			`mcpServers[0].name: invalid name ".": "." and ".." are path segments, not names`},
		{"NameDotDot", `{"mcpServers": [{"name": "..", "command": "x"}]}`,
			`mcpServers[0].name: invalid name "..": "." and ".." are path segments, not names`},
		{"MapNameDotDot", `{"mcpServers": {"..": {"command": "x"}}}`,
			`mcpServers[".."].name: invalid name "..": "." and ".." are path segments, not names`},
		{"NameMissing", `{"mcpServers": [{"command": "x"}]}`, `mcpServers[0].name: required`},
		{"NameDuplicate", `{"mcpServers": [{"name": "x", "command": "a"}, {"name": "y", "command": "a"}, {"name": "x", "command": "a"}]}`,
			`mcpServers[2].name: duplicate name "x" (also mcpServers[0])`},
		{"ProtocolUnknown", `{"mcpServers": [{"name": "a", "protocol": "ws", "url": "http://h"}]}`,
			`mcpServers[0].protocol: unknown protocol "ws": use stdio, streamable-http, http, sse or auto`},
		{"StdioNoCommand", `{"mcpServers": [{"name": "a", "command": "x"}, {"name": "b", "protocol": "stdio"}]}`,
			`mcpServers[1].command: required for protocol stdio`},
		{"SSENoURL", `{"mcpServers": [{"name": "a", "protocol": "sse"}]}`, `mcpServers[0].url: required for protocol sse`},
		{"HTTPNoURL", `{"mcpServers": [{"name": "a", "protocol": "http", "command": "x"}]}`,
			`mcpServers[0].url: required for protocol http`},
		{"StreamableNoURL", `{"mcpServers": [{"name": "a", "protocol": "streamable-http"}]}`,
			`mcpServers[0].url: required for protocol streamable-http`},
		{"AutoNothing", `{"mcpServers": [{"name": "a"}]}`, `mcpServers[0]: needs "command" (stdio) or "url" (HTTP)`},
		{"ExplicitAutoNothing", `{"mcpServers": [{"name": "a", "protocol": "auto"}]}`,
			`mcpServers[0]: needs "command" (stdio) or "url" (HTTP)`},
		{"URLScheme", `{"mcpServers": [{"name": "a", "command": "x"}, {"name": "b", "command": "x"}, {"name": "c", "command": "x"}, {"name": "d", "url": "htp:/x"}]}`,
			`mcpServers[3].url: invalid URL "htp:/x"`},
		{"URLNoHost", `{"mcpServers": [{"name": "a", "url": "https://"}]}`, `mcpServers[0].url: invalid URL "https://"`},
		{"URLUnparsable", `{"mcpServers": [{"name": "a", "url": "http://[::1"}]}`, `mcpServers[0].url: invalid URL "http://[::1"`},
		{"ServerConnectTimeoutNegative", `{"mcpServers": [{"name": "a", "command": "x", "connect_timeout": "-1s"}]}`,
			`mcpServers[0].connect_timeout: must not be negative, got -1s`},
		{"ServerCallTimeoutNegative", `{"mcpServers": [{"name": "a", "command": "x", "call_timeout": -2}]}`,
			`mcpServers[0].call_timeout: must not be negative, got -2s`},

		// Map form names servers by key.
		{"MapURL", `{"mcpServers": {"github": {"url": "htp:/x"}}}`, `mcpServers.github.url: invalid URL "htp:/x"`},
		{"MapNameMismatch", `{"mcpServers": {"github": {"name": "gh", "command": "x"}}}`,
			`mcpServers.github.name: "gh" does not match its key "github"`},
		{"MapNameInvalid", `{"mcpServers": {"a b": {"command": "x"}}}`,
			`mcpServers["a b"].name: invalid name "a b": use 1-64 of A-Z a-z 0-9 _ . -`},
		{"MapTypeUnknown", `{"mcpServers": {"x": {"type": "ws", "url": "http://h"}}}`,
			`mcpServers.x.type: unknown protocol "ws": use stdio, streamable-http, http, sse or auto`},
		{"MapStdioNoCommand", `{"mcpServers": {"x": {"type": "stdio"}}}`, `mcpServers.x.command: required for protocol stdio`},
		{"MapEnvType", `{"mcpServers": {"x": {"command": "c", "env": {"a.b": false}}}}`,
			`mcpServers.x.env["a.b"]: want string, got boolean`},

		// Top level.
		{"ListenNoPort", `{"listen": "localhost"}`, `listen: invalid address "localhost": want host:port`},
		{"ListenBadPort", `{"listen": "localhost:http"}`, `listen: invalid address "localhost:http": want host:port`},
		{"ListenEmpty", `{"listen": ""}`, `listen: invalid address "": want host:port`},
		{"ToolsLimitZero", `{"tools_limit": 0}`, `tools_limit: must be between 1 and 100, got 0`},
		{"ToolsLimitHigh", `{"tools_limit": 101}`, `tools_limit: must be between 1 and 100, got 101`},
		{"ToolResponseLimitNegative", `{"tool_response_limit": -1}`, `tool_response_limit: must not be negative, got -1`},
		{"CallToolTimeoutZero", `{"call_tool_timeout": "0s"}`, `call_tool_timeout: must be positive, got 0s`},
		{"ConnectTimeoutNegative", `{"connect_timeout": "-5s"}`, `connect_timeout: must be positive, got -5s`},
		{"InstallTimeoutZero", `{"install_timeout": "0s"}`, `install_timeout: must be positive, got 0s`},
		{"SensitiveDataUnknown", `{"sensitive_data": "mask"}`, `sensitive_data: unknown mode "mask": use flag, redact or block`},
		{"SensitiveDataEmpty", `{"sensitive_data": ""}`, `sensitive_data: unknown mode "": use flag, redact or block`},
		{"SensitiveDataType", `{"sensitive_data": true}`, `sensitive_data: want string, got boolean`},
		{"ToolResponseModeUnknown", `{"tool_response_mode": "short"}`, `tool_response_mode: unknown mode "short": use full or compact`},
		{"RequireIntentType", `{"require_intent": "yes"}`, `require_intent: want true or false, got string`},
		{"ResultCacheNegative", `{"result_cache_max_bytes": -1}`, `result_cache_max_bytes: must not be negative, got -1`},
		{"ResultCacheNotInteger", `{"result_cache_max_bytes": "1GB"}`, `result_cache_max_bytes: want integer, got string`},

		// All problems are reported, one per line.
		{"Several", `{"tools_limit": 0, "mcpServers": [{"name": "a b", "protocol": "sse"}, {"name": "ok", "url": "ftp://h"}]}`,
			"tools_limit: must be between 1 and 100, got 0\n" +
				`mcpServers[0].name: invalid name "a b": use 1-64 of A-Z a-z 0-9 _ . -` + "\n" +
				"mcpServers[0].url: required for protocol sse\n" +
				`mcpServers[1].url: invalid URL "ftp://h"`},
		{"SeveralTypes", `{"tools_limit": true, "mcpServers": [{"name": "a", "args": {}, "enabled": 1}]}`,
			"tools_limit: want integer, got boolean\nmcpServers[0].args: want array of strings, got object\nmcpServers[0].enabled: want true or false, got number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded, want error %q", tt.want)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config with an error")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
			var e *mcpproxy.Error
			if !errors.As(err, &e) || e.Code != mcpproxy.EINVALID {
				t.Errorf("error %v is not an EINVALID *mcpproxy.Error", err)
			}
		})
	}
}

func TestParse_Defaults(t *testing.T) {
	t.Run("EmptyObject", func(t *testing.T) {
		cfg := mustParse(t, `{}`)
		if !reflect.DeepEqual(cfg, Default()) {
			t.Errorf("got %+v, want %+v", cfg, Default())
		}
		want := &Config{
			Listen: "127.0.0.1:8080", ToolsLimit: 15, ToolResponseLimit: 20000,
			CallToolTimeout: mcpproxy.Duration(2 * time.Minute), ConnectTimeout: mcpproxy.Duration(30 * time.Second),
			InstallTimeout: mcpproxy.Duration(5 * time.Minute),
			AllowServerAdd: true, AllowServerRemove: true,
			ActivityRetentionDays: 30, ActivityMaxRecords: 100000, SensitiveData: "flag", ResultCacheMaxBytes: 256 << 20,
			ToolResponseMode: "full",
		}
		if !reflect.DeepEqual(Default(), want) {
			t.Errorf("Default() = %+v, want %+v", Default(), want)
		}
	})
	t.Run("NullServers", func(t *testing.T) {
		cfg := mustParse(t, `{"mcpServers": null, "listen": null}`)
		if len(cfg.Servers) != 0 || cfg.Listen != "127.0.0.1:8080" {
			t.Errorf("got %+v", cfg)
		}
	})
	t.Run("AllFields", func(t *testing.T) {
		cfg := mustParse(t, `{
			"listen": ":9000", "data_dir": "/d", "api_key": "k", "tools_limit": 100,
			"tool_response_limit": 0, "call_tool_timeout": "10s", "connect_timeout": 5, "install_timeout": "10m",
			"require_mcp_auth": true, "read_only": true, "disable_management": true,
			"allow_server_add": false, "allow_server_remove": false, "quarantine_new_servers": true,
			"activity_retention_days": 7, "activity_max_records": 500, "sensitive_data": "block", "result_cache_max_bytes": 5000000000,
			"tool_response_mode": "compact", "require_intent": true, "block_destructive_agent_calls": true,
			"mcpServers": [
				{"name": "a", "protocol": "stdio", "command": "npx", "args": ["-y", "pkg"],
				 "env": {"K": "V"}, "working_dir": "/w", "enabled": false, "quarantined": true,
				 "connect_timeout": "1m", "call_timeout": "90s", "auto_approve_tool_changes": true},
				{"name": "b", "url": "https://h/mcp", "headers": {"Authorization": "Bearer x"}}
			]}`)
		want := &Config{
			Listen: ":9000", DataDir: "/d", APIKey: "k", ToolsLimit: 100, ToolResponseLimit: 0,
			CallToolTimeout: mcpproxy.Duration(10 * time.Second), ConnectTimeout: mcpproxy.Duration(5 * time.Second),
			InstallTimeout: mcpproxy.Duration(10 * time.Minute),
			RequireMCPAuth: true, ReadOnly: true, DisableManagement: true, QuarantineNewServers: true,
			ActivityRetentionDays: 7, ActivityMaxRecords: 500, SensitiveData: "block", ResultCacheMaxBytes: 5_000_000_000,
			ToolResponseMode: "compact", RequireIntent: true, BlockDestructiveAgentCalls: true,
			Servers: []mcpproxy.ServerSpec{
				{Name: "a", Protocol: "stdio", Command: "npx", Args: []string{"-y", "pkg"},
					Env: map[string]string{"K": "V"}, WorkingDir: "/w", Enabled: false, Quarantined: true,
					ConnectTimeout: mcpproxy.Duration(time.Minute), CallTimeout: mcpproxy.Duration(90 * time.Second),
					AutoApproveToolChanges: true},
				{Name: "b", URL: "https://h/mcp", Headers: map[string]string{"Authorization": "Bearer x"}, Enabled: true},
			},
		}
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("got  %+v\nwant %+v", cfg, want)
		}
	})
	t.Run("MapFormKeepsOrder", func(t *testing.T) {
		cfg := mustParse(t, `{"mcpServers": {
			"zeta": {"command": "z"},
			"alpha": {"name": "alpha", "url": "http://a"},
			"mid": {"type": "sse", "url": "http://m"},
			"vs": {"type": "http", "protocol": "stdio", "command": "c"}}}`)
		if !cfg.ServersAsMap {
			t.Error("ServersAsMap = false")
		}
		var names []string
		for _, s := range cfg.Servers {
			names = append(names, s.Name)
			if !s.Enabled {
				t.Errorf("%s: Enabled = false, want default true", s.Name)
			}
		}
		if want := []string{"zeta", "alpha", "mid", "vs"}; !reflect.DeepEqual(names, want) {
			t.Errorf("names = %v, want %v", names, want)
		}
		if p := cfg.Servers[2].Protocol; p != mcpproxy.ProtocolSSE {
			t.Errorf("type alias: protocol = %q, want sse", p)
		}
		if p := cfg.Servers[3].Protocol; p != mcpproxy.ProtocolStdio {
			t.Errorf("protocol beside type: protocol = %q, want stdio", p)
		}
	})
}

func TestParse_Warnings(t *testing.T) {
	_, warnings, err := Parse([]byte(`{
		"$schema": "https://example.com/s.json", "_comment": "mine", "x_team": {"a": 1}, "x-owner": "me",
		"read_only": true, "require_mcp_auth": false, "disable_management": false,
		"allow_server_add": true, "allow_server_remove": true, "quarantine_new_servers": true,
		"enable_direct_mode": false,
		"tools_limit": 10, "tools_limit": 12,
		"mcpServers": [
			{"name": "a", "command": "x", "auto_approve_tool_changes": true,
			 "description": "d", "type": "stdio", "_note": "n"},
			{"name": "b", "command": "x"}
		]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tools_limit: repeated key, the last one is used"}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings:\n got %q\nwant %q", warnings, want)
	}
}

// TestParse_UnknownKeys: an unknown key in mcpproxy's own file is an error
// naming it and what it probably meant, so that a typo such as
// "enabeld": false cannot leave a server running, and nothing of the file
// applies.
func TestParse_UnknownKeys(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"Typo", `{"mcpServers": [{"name": "a", "command": "x", "enabeld": false}]}`,
			"mcpServers[0].enabeld: unknown field; did you mean enabled?"},
		{"Case", `{"mcpServers": {"a": {"Command": "x"}}}`, "mcpServers.a.Command: unknown field; did you mean command?"},
		{"Dash", `{"mcpServers": {"a": {"command": "x", "working-dir": "/"}}}`, "mcpServers.a.working-dir: unknown field; did you mean working_dir?"},
		{"TopTypo", `{"tool_limit": 3}`, "tool_limit: unknown field; did you mean tools_limit?"},
		{"Unrelated", `{"frobnicate": 1}`, `frobnicate: unknown field (keys of your own start with "_" or "x_")`},
		{"Quoted", `{"my key": 1}`, `["my key"]: unknown field`},
		{"Null", `{"mcpServers": {"gh": {"url": "http://h", "bar": null}}}`, "mcpServers.gh.bar: unknown field"},
		{"OAuth", `{"mcpServers": [{"name": "a", "url": "https://h/mcp", "oauth": {"client_di": "x"}}]}`,
			"mcpServers[0].oauth.client_di: unknown field; did you mean client_id?"},
		{"McpproxyGoReadOnly", `{"read_only_mode": true}`, "read_only_mode: unknown field; mcpproxy-go's name for read_only: rename it"},
		{"McpproxyGoInit", `{"init_timeout": "60s"}`, "init_timeout: unknown field; mcpproxy-go's name; here the time to start and connect is connect_timeout"},
		{"McpproxyGoQuarantine", `{"quarantine_enabled": true}`, "quarantine_enabled: unknown field; mcpproxy-go's switch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, _, err := Parse([]byte(c.in))
			if err == nil || cfg != nil {
				t.Fatalf("Parse(%s) = %v, %v; want an error", c.in, cfg, err)
			}
			if mcpproxy.ErrorCode(err) != mcpproxy.EINVALID || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q (code %s), want it to contain %q", err, mcpproxy.ErrorCode(err), c.want)
			}
		})
	}
	// Every unknown key is named, not only the first.
	_, _, err := Parse([]byte(`{"a1": 1, "mcpServers": [{"name": "s", "command": "c", "b2": 2}]}`))
	if err == nil || !strings.Contains(err.Error(), "a1: unknown field") || !strings.Contains(err.Error(), "mcpServers[0].b2: unknown field") {
		t.Errorf("error %v, want both a1 and mcpServers[0].b2", err)
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"enabeld", "enabled", 1}, {"kitten", "sitting", 3}, {"url", "env", 3}, {"ab", "ba", 1}} {
		if got := EditDistance(c.a, c.b); got != c.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	t.Run("Missing", func(t *testing.T) {
		path := filepath.Join(dir, "missing.json")
		_, _, err := Load(path)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Errorf("err = %v, want a not-exist error naming %s", err, path)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		path := writeTemp(t, dir, "bad.json", `{"tools_limit": 0}`)
		_, _, err := Load(path)
		want := "load config " + path + ": tools_limit: must be between 1 and 100, got 0"
		if err == nil || err.Error() != want {
			t.Errorf("err = %v, want %s", err, want)
		}
		if mcpproxy.ErrorCode(err) != mcpproxy.EINVALID {
			t.Errorf("code = %q, want invalid", mcpproxy.ErrorCode(err))
		}
	})
	t.Run("OK", func(t *testing.T) {
		path := writeTemp(t, dir, "ok.json", `{"x_note": 1, "tools_limit": 1, "tools_limit": 2, "mcpServers": [{"name": "a", "command": "c"}]}`)
		cfg, warnings, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Servers) != 1 || len(warnings) != 1 {
			t.Errorf("servers %v, warnings %q", cfg.Servers, warnings)
		}
	})
}

func TestConfig_ServerAndClone(t *testing.T) {
	cfg := mustParse(t, `{"mcpServers": [
		{"name": "a", "command": "c", "args": ["1"], "env": {"K": "V"}},
		{"name": "b", "url": "http://h", "headers": {"H": "v"}}]}`)
	if s, ok := cfg.Server("b"); !ok || s.URL != "http://h" {
		t.Errorf("Server(b) = %v, %v", s, ok)
	}
	if _, ok := cfg.Server("zz"); ok {
		t.Error("Server(zz) found")
	}
	c := cfg.Clone()
	if !reflect.DeepEqual(c, cfg) {
		t.Fatal("clone differs")
	}
	c.Servers[0].Args[0] = "changed"
	c.Servers[0].Env["K"] = "changed"
	c.Servers[1].Headers["H"] = "changed"
	c.Servers[1].Name = "changed"
	if cfg.Servers[0].Args[0] != "1" || cfg.Servers[0].Env["K"] != "V" ||
		cfg.Servers[1].Headers["H"] != "v" || cfg.Servers[1].Name != "b" {
		t.Errorf("editing the clone changed the original: %+v", cfg.Servers)
	}
	if (*Config)(nil).Clone() != nil {
		t.Error("nil.Clone() != nil")
	}
}

func TestDiff(t *testing.T) {
	base := `{"mcpServers": [
		{"name": "a", "command": "c"},
		{"name": "b", "url": "http://h"},
		{"name": "c", "command": "c", "args": ["1"]}]}`
	tests := []struct {
		name string
		old  string
		new  string
		want Changes
	}{
		{"Unchanged", base, base, Changes{}},
		{"UnchangedMapForm", base, `{"mcpServers": {"c": {"command": "c", "args": ["1"]},
			"b": {"url": "http://h"}, "a": {"command": "c"}}}`, Changes{}},
		{"Added", `{}`, base, Changes{Added: []string{"a", "b", "c"}}},
		{"Removed", base, `{}`, Changes{Removed: []string{"a", "b", "c"}}},
		{"Changed", base, `{"mcpServers": [
			{"name": "a", "command": "c", "enabled": false},
			{"name": "b", "url": "http://h", "quarantined": true},
			{"name": "c", "command": "c", "args": ["2"]}]}`, Changes{Changed: []string{"a", "b", "c"}}},
		{"Mixed", base, `{"mcpServers": [
			{"name": "z", "command": "c"},
			{"name": "c", "command": "c", "args": ["1"], "env": {"A": "1"}},
			{"name": "a", "command": "c"},
			{"name": "m", "command": "c"}]}`,
			Changes{Added: []string{"m", "z"}, Removed: []string{"b"}, Changed: []string{"c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(mustParse(t, tt.old), mustParse(t, tt.new))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Diff = %+v, want %+v", got, tt.want)
			}
			if got.Empty() != tt.want.Empty() {
				t.Errorf("Empty() = %v", got.Empty())
			}
		})
	}
	if ch := Diff(nil, mustParse(t, base)); len(ch.Added) != 3 {
		t.Errorf("Diff(nil, cfg) = %+v", ch)
	}
}

func TestValidateServer(t *testing.T) {
	s := &mcpproxy.ServerSpec{Name: "ok", Protocol: mcpproxy.ProtocolStreamableHTTP, URL: "https://h/mcp"}
	if err := ValidateServer(s, "server"); err != nil {
		t.Errorf("valid server: %v", err)
	}
	s = &mcpproxy.ServerSpec{Name: "bad name", Protocol: mcpproxy.ProtocolStdio}
	err := ValidateServer(s, "body")
	want := "body.name: invalid name \"bad name\": use 1-64 of A-Z a-z 0-9 _ . -\nbody.command: required for protocol stdio"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
	if mcpproxy.ErrorCode(err) != mcpproxy.EINVALID {
		t.Errorf("code = %q", mcpproxy.ErrorCode(err))
	}
}

func mustParse(tb testing.TB, s string) *Config {
	tb.Helper()
	cfg, _, err := Parse([]byte(s))
	if err != nil {
		tb.Fatalf("Parse(%s): %v", s, err)
	}
	return cfg
}

func writeTemp(tb testing.TB, dir, name, content string) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}
