package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

func TestParseClientServers(t *testing.T) {
	type entry struct {
		field, name string
		proto       mcpproxy.Protocol
		err         string // substring of Err, "" for valid
		warnings    []string
	}
	tests := []struct {
		name   string
		in     string
		layout string
		want   []entry
	}{
		{
			name: "ClaudeDesktopMap",
			in: `{"mcpServers": {
				"fs": {"command": "npx", "args": ["-y", "server-fs", "/tmp"]},
				"bad args": {"command": "uvx", "args": "one string"},
				"remote": {"url": "htp:/x"}
			}, "globalShortcut": "Ctrl+Space"}`,
			layout: LayoutMCPServers,
			want: []entry{
				{field: "mcpServers.fs", name: "fs"},
				{field: `mcpServers["bad args"]`, name: "bad args", err: `mcpServers["bad args"].args: want array of strings`},
				{field: "mcpServers.remote", name: "remote", err: `mcpServers.remote.url: invalid URL "htp:/x"`},
			},
		},
		{
			name:   "MCPProxyArray",
			in:     `{"listen": "127.0.0.1:1", "mcpServers": [{"name": "a", "url": "http://h/mcp", "protocol": "sse", "enabled": false}, {"command": "x"}, 3]}`,
			layout: LayoutMCPServers,
			want: []entry{
				{field: "mcpServers[0]", name: "a", proto: mcpproxy.ProtocolSSE},
				{field: "mcpServers[1]", err: "mcpServers[1].name: required"},
				{field: "mcpServers[2]", err: "mcpServers[2]: want object"},
			},
		},
		{
			name: "VSCodeJSONC",
			in: `{
				// a comment with "quotes" and a // inside
				"inputs": [{"type": "promptString", "id": "tok", "password": true}],
				"servers": {
					"gh": {"type": "http", "url": "https://api.example.com/mcp/", "headers": {"Authorization": "Bearer ${input:tok}"},},
					/* block
					   comment */
					"run": {"type": "stdio", "command": "uvx", "args": ["x", "http://not-a-comment"], "envFile": ".env"},
					"ws": {"type": "websocket", "url": "ws://h"},
				},
			}`,
			layout: LayoutVSCode,
			want: []entry{
				{field: "servers.gh", name: "gh", proto: mcpproxy.ProtocolHTTP, warnings: []string{
					"servers.gh.headers.Authorization: ${input:tok} is a VS Code input variable"}},
				{field: "servers.run", name: "run", proto: mcpproxy.ProtocolStdio, warnings: []string{"servers.run.envFile: unknown field, ignored"}},
				{field: "servers.ws", name: "ws", err: `servers.ws.type: unknown protocol "websocket"`},
			},
		},
		{
			name:   "VSCodeSettings",
			in:     `{"editor.fontSize": 14, "mcp": {"servers": {"m": {"command": "npx"}}}}`,
			layout: LayoutVSCodeSettings,
			want:   []entry{{field: "mcp.servers.m", name: "m"}},
		},
		{
			name:   "Empty",
			in:     `{"mcpServers": {}}`,
			layout: LayoutMCPServers,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layout, got, err := ParseClientServers([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if layout != tt.layout {
				t.Errorf("layout %q, want %q", layout, tt.layout)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d servers, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Field != w.field || g.Spec.Name != w.name || g.Spec.Protocol != w.proto {
					t.Errorf("[%d] = field %q name %q protocol %q, want %q %q %q", i, g.Field, g.Spec.Name, g.Spec.Protocol, w.field, w.name, w.proto)
				}
				switch {
				case w.err == "" && g.Err != nil:
					t.Errorf("[%d] %s: unexpected error %v", i, w.field, g.Err)
				case w.err != "" && (g.Err == nil || !strings.Contains(g.Err.Error(), w.err)):
					t.Errorf("[%d] %s: error %v, want one containing %q", i, w.field, g.Err, w.err)
				case g.Err != nil && mcpproxy.ErrorCode(g.Err) != mcpproxy.EINVALID:
					t.Errorf("[%d] %s: error code %s, want invalid", i, w.field, mcpproxy.ErrorCode(g.Err))
				}
				if len(g.Warnings) != len(w.warnings) {
					t.Errorf("[%d] %s: warnings %q, want %q", i, w.field, g.Warnings, w.warnings)
					continue
				}
				for j := range w.warnings {
					if !strings.HasPrefix(g.Warnings[j], w.warnings[j]) {
						t.Errorf("[%d] %s: warning %q, want %q…", i, w.field, g.Warnings[j], w.warnings[j])
					}
				}
			}
		})
	}
	t.Run("Fields", func(t *testing.T) {
		_, got, err := ParseClientServers([]byte(`{"servers": {"x": {"command": "c", "args": ["a"], "env": {"K": "V"}}}}`))
		if err != nil {
			t.Fatal(err)
		}
		want := mcpproxy.ServerSpec{Name: "x", Command: "c", Args: []string{"a"}, Env: map[string]string{"K": "V"}, Enabled: true}
		if !reflect.DeepEqual(got[0].Spec, want) {
			t.Errorf("spec %+v, want %+v", got[0].Spec, want)
		}
	})
	t.Run("NotAClientConfig", func(t *testing.T) {
		for _, in := range []string{`{"listen": "x"}`, `[]`, `{"mcpServers": "x"}`, `{`} {
			if _, _, err := ParseClientServers([]byte(in)); err == nil || mcpproxy.ErrorCode(err) != mcpproxy.EINVALID {
				t.Errorf("ParseClientServers(%s) error %v, want an invalid error", in, err)
			}
		}
	})
}

func TestStripJSONC(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a": 1}`, `{"a": 1}`},
		{"{\"a\": 1, // c\n}", "{\"a\": 1      \n}"},
		{`{"a": "// not /* a */ comment",}`, `{"a": "// not /* a */ comment" }`},
		{`{"a": "\"// still a string"}`, `{"a": "\"// still a string"}`},
		{"{/* x\ny */\"a\": [1, 2, ]}", "{    \n    \"a\": [1, 2  ]}"},
		{`{"a": 1} // end`, `{"a": 1}       `},
		// Not JSONC: left for the parser to report where it breaks.
		{`{"a": 1} /* unterminated`, `{"a": 1} /* unterminated`},
	}
	for _, tt := range tests {
		if got := string(stripJSONC([]byte(tt.in))); got != tt.want {
			t.Errorf("stripJSONC(%q)\n = %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParseClientServers(f *testing.F) {
	f.Add([]byte(`{"servers": {"a": {"type": "http", "url": "http://h"}}, // c
	}`))
	f.Add([]byte(`{"mcpServers": [{"name": "a", "command": "x"}]}`))
	f.Add([]byte(`{"mcp": {"servers": {"a": /* c */ {"command": "x",}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if got := stripJSONC(data); len(got) != len(data) {
			t.Fatalf("stripJSONC changed the length: %d → %d", len(data), len(got))
		}
		_, servers, err := ParseClientServers(data)
		if err != nil {
			return
		}
		for _, s := range servers {
			if s.Err == nil {
				if verr := ValidateServer(&s.Spec, s.Field); verr != nil {
					t.Fatalf("%s: reported valid, but ValidateServer says %v", s.Field, verr)
				}
			}
		}
	})
}
