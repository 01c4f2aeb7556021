package config

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// userFile has a custom key order, unknown fields at both levels, numbers
// that float64 would change, and characters encoding/json escapes by default.
const userFile = `{
  "mcpServers": [
    {
      "url": "https://h/mcp?a=1&b=<2>",
      "x-note": "é ✓",
      "name": "remote",
      "oauth": {
        "client_id": "abc",
        "scopes": []
      }
    },
    {
      "name": "local",
      "command": "npx",
      "args": [
        "-y",
        "pkg"
      ],
      "enabled": false
    }
  ],
  "x_frobnicate": {
    "big": 12345678901234567890,
    "exp": 1.50e3,
    "nested": [
      null,
      true,
      {}
    ]
  },
  "listen": "127.0.0.1:9090",
  "tools_limit": 20
}
`

// mapFile is the Claude Desktop / VS Code form.
const mapFile = `{
  "listen": "127.0.0.1:8080",
  "mcpServers": {
    "github": {
      "type": "http",
      "url": "https://api.example.com/mcp",
      "headers": {
        "Authorization": "Bearer t"
      }
    },
    "files": {
      "command": "npx",
      "args": [
        "fs"
      ],
      "name": "files",
      "x_custom": 1
    }
  },
  "x_extra": true
}
`

func TestDocument_RoundTrip(t *testing.T) {
	for name, in := range map[string]string{"Array": userFile, "Map": mapFile} {
		t.Run(name, func(t *testing.T) {
			d := mustDoc(t, in)
			if got := string(d.Bytes()); got != in {
				t.Errorf("Bytes() changed the file:\n%s", got)
			}
		})
	}
	t.Run("Reindents", func(t *testing.T) {
		d := mustDoc(t, "{\"b\":[1,\n2],\t\"a\":{ }, \"c\": []}")
		want := "{\n  \"b\": [\n    1,\n    2\n  ],\n  \"a\": {},\n  \"c\": []\n}\n"
		if got := string(d.Bytes()); got != want {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("NotObject", func(t *testing.T) {
		if _, err := ParseDocument([]byte(`[1]`)); mcpproxy.ErrorCode(err) != mcpproxy.EINVALID {
			t.Errorf("err = %v", err)
		}
	})
}

func TestDocument_SetTop(t *testing.T) {
	d := mustDoc(t, `{"listen": ":1", "a": 1}`)
	must(t, d.SetTop("api_key", "k<&>"))
	must(t, d.SetTop("listen", ":2"))
	must(t, d.SetTop("a", nil))
	must(t, d.SetTop("call_tool_timeout", mcpproxy.Duration(time.Minute)))
	want := `{
  "listen": ":2",
  "api_key": "k<&>",
  "call_tool_timeout": "1m0s"
}
`
	if got := string(d.Bytes()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if raw, ok := d.Top("listen"); !ok || string(raw) != `":2"` {
		t.Errorf("Top(listen) = %s, %v", raw, ok)
	}
	if _, ok := d.Top("a"); ok {
		t.Error("Top(a) found after removal")
	}
	if err := d.SetTop("bad", func() {}); mcpproxy.ErrorCode(err) != mcpproxy.EINVALID {
		t.Errorf("SetTop(func) err = %v", err)
	}
}

func TestDocument_SetServerField(t *testing.T) {
	t.Run("MapFormConverts", func(t *testing.T) {
		d := mustDoc(t, mapFile)
		must(t, d.SetServerField("files", "enabled", false))
		want := `{
  "listen": "127.0.0.1:8080",
  "mcpServers": [
    {
      "name": "github",
      "type": "http",
      "url": "https://api.example.com/mcp",
      "headers": {
        "Authorization": "Bearer t"
      }
    },
    {
      "name": "files",
      "command": "npx",
      "args": [
        "fs"
      ],
      "enabled": false,
      "x_custom": 1
    }
  ],
  "x_extra": true
}
`
		if got := string(d.Bytes()); got != want {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}
		if d.ServersAsMap() {
			t.Error("still map form")
		}
		before := mustParse(t, mapFile)
		after := mustParse(t, want)
		if ch := Diff(before, after); len(ch.Changed) != 1 || ch.Changed[0] != "files" || len(ch.Added)+len(ch.Removed) != 0 {
			t.Errorf("Diff = %+v", ch)
		}
	})
	t.Run("NoOpKeepsMapForm", func(t *testing.T) {
		d := mustDoc(t, mapFile)
		must(t, d.SetServerField("github", "enabled", true))             // absent means true
		must(t, d.SetServerField("github", "quarantined", nil))          // absent already
		must(t, d.SetServerField("files", "x_custom", json.Number("1"))) // same value
		must(t, d.SetServerField("github", "protocol", "http"))          // type already says so
		if got := string(d.Bytes()); got != mapFile {
			t.Errorf("no-op edits changed the document:\n%s", got)
		}
	})
	t.Run("UnknownFieldIsAChange", func(t *testing.T) {
		d := mustDoc(t, mapFile)
		must(t, d.SetServerField("github", "description", "GitHub"))
		if d.ServersAsMap() {
			t.Error("still map form after setting description")
		}
	})
	t.Run("ArrayFormInPlace", func(t *testing.T) {
		d := mustDoc(t, userFile)
		must(t, d.SetServerField("local", "enabled", true))
		must(t, d.SetServerField("remote", "quarantined", true))
		got := string(d.Bytes())
		want := strings.Replace(userFile, `"enabled": false`, `"enabled": true`, 1)
		want = strings.Replace(want, `      "name": "remote",
`, `      "name": "remote",
      "quarantined": true,
`, 1)
		if got != want {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		d := mustDoc(t, mapFile)
		if err := d.SetServerField("nope", "enabled", false); mcpproxy.ErrorCode(err) != mcpproxy.ENOTFOUND {
			t.Errorf("err = %v, want not_found", err)
		}
	})
}

func TestDocument_AddServer(t *testing.T) {
	d := mustDoc(t, `{"listen": ":1"}`)
	must(t, d.AddServer(mcpproxy.ServerSpec{
		Name: "a", Protocol: mcpproxy.ProtocolStdio, Command: "npx", Args: []string{"-y", "pkg"},
		Env: map[string]string{"Z": "1", "A": "2"}, WorkingDir: "/w", Enabled: true,
		CallTimeout: mcpproxy.Duration(90 * time.Second),
	}))
	must(t, d.AddServer(mcpproxy.ServerSpec{
		Name: "b", URL: "https://h", Headers: map[string]string{"H": "v"}, Quarantined: true,
		ConnectTimeout: mcpproxy.Duration(2 * time.Hour),
	}))
	want := `{
  "listen": ":1",
  "mcpServers": [
    {
      "name": "a",
      "protocol": "stdio",
      "command": "npx",
      "args": [
        "-y",
        "pkg"
      ],
      "env": {
        "A": "2",
        "Z": "1"
      },
      "working_dir": "/w",
      "enabled": true,
      "call_timeout": "1m30s"
    },
    {
      "name": "b",
      "url": "https://h",
      "headers": {
        "H": "v"
      },
      "enabled": false,
      "quarantined": true,
      "connect_timeout": "2h"
    }
  ]
}
`
	if got := string(d.Bytes()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	cfg := mustParse(t, want)
	if s, _ := cfg.Server("a"); s.CallTimeout.D() != 90*time.Second || len(s.Env) != 2 {
		t.Errorf("parsed back: %+v", s)
	}
	err := d.AddServer(mcpproxy.ServerSpec{Name: "a", Command: "x"})
	if mcpproxy.ErrorCode(err) != mcpproxy.ECONFLICT {
		t.Errorf("duplicate AddServer err = %v, want conflict", err)
	}

	t.Run("MapForm", func(t *testing.T) {
		d := mustDoc(t, mapFile)
		must(t, d.AddServer(mcpproxy.ServerSpec{Name: "new", Command: "c", Enabled: true}))
		cfg := mustParse(t, string(d.Bytes()))
		if cfg.ServersAsMap || len(cfg.Servers) != 3 || cfg.Servers[2].Name != "new" {
			t.Errorf("got %+v", cfg)
		}
		if err := d.AddServer(mcpproxy.ServerSpec{Name: "github", Command: "c"}); mcpproxy.ErrorCode(err) != mcpproxy.ECONFLICT {
			t.Errorf("err = %v, want conflict", err)
		}
	})
	t.Run("NullServers", func(t *testing.T) {
		d := mustDoc(t, `{"mcpServers": null, "z": 1}`)
		must(t, d.AddServer(mcpproxy.ServerSpec{Name: "n", Command: "c", Enabled: true}))
		want := "{\n  \"mcpServers\": [\n    {\n      \"name\": \"n\",\n      \"command\": \"c\",\n      \"enabled\": true\n    }\n  ],\n  \"z\": 1\n}\n"
		if got := string(d.Bytes()); got != want {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}
	})
}

func TestDocument_UpdateServer(t *testing.T) {
	t.Run("KeepsUnknownFields", func(t *testing.T) {
		d := mustDoc(t, userFile)
		must(t, d.UpdateServer(mcpproxy.ServerSpec{
			Name: "remote", Protocol: mcpproxy.ProtocolSSE, URL: "https://other/sse",
			Headers: map[string]string{"X": "y"},
			// Enabled and Quarantined are not connection fields.
			Enabled: false, Quarantined: true,
		}))
		// New keys go after their nearest predecessor in the natural order.
		want := `{
      "url": "https://other/sse",
      "x-note": "é ✓",
      "name": "remote",
      "protocol": "sse",
      "headers": {
        "X": "y"
      },
      "oauth": {
        "client_id": "abc",
        "scopes": []
      }
    }`
		if got := string(d.Bytes()); !strings.Contains(got, want) {
			t.Errorf("got\n%s\nwant it to contain\n%s", got, want)
		}
		cfg := mustParse(t, string(d.Bytes()))
		if s, _ := cfg.Server("remote"); !s.Enabled || s.Quarantined {
			t.Errorf("lifecycle fields changed: %+v", s)
		}
	})
	t.Run("RemovesEmptied", func(t *testing.T) {
		d := mustDoc(t, userFile)
		must(t, d.UpdateServer(mcpproxy.ServerSpec{Name: "local", Command: "uvx"}))
		want := `{
      "name": "local",
      "command": "uvx",
      "enabled": false
    }`
		if got := string(d.Bytes()); !strings.Contains(got, want) {
			t.Errorf("got\n%s\nwant it to contain\n%s", got, want)
		}
	})
	t.Run("SameSpecIsNoOp", func(t *testing.T) {
		cfg := mustParse(t, mapFile)
		d := mustDoc(t, mapFile)
		for _, s := range cfg.Servers {
			must(t, d.UpdateServer(s))
		}
		if got := string(d.Bytes()); got != mapFile {
			t.Errorf("no-op update changed the document:\n%s", got)
		}
	})
	t.Run("KeepsFieldsAsWritten", func(t *testing.T) {
		// Fields whose meaning the update keeps stay as the person wrote
		// them (a duration's spelling, an empty list, the order of keys);
		// only the changed one is rewritten.
		const file = `{"mcpServers": [{"name": "s", "command": "old", "args": [], "env": {"B": "2", "A": "1"}, "connect_timeout": "120s"}]}`
		d := mustDoc(t, file)
		must(t, d.UpdateServer(mcpproxy.ServerSpec{Name: "s", Command: "new",
			Env: map[string]string{"A": "1", "B": "2"}, ConnectTimeout: mcpproxy.Duration(2 * time.Minute)}))
		want := strings.Replace(file, `"old"`, `"new"`, 1)
		if got := strings.Join(strings.Fields(string(d.Bytes())), ""); got != strings.Join(strings.Fields(want), "") {
			t.Errorf("got\n%s\nwant\n%s", d.Bytes(), want)
		}
	})
	t.Run("ReplacesType", func(t *testing.T) {
		d := mustDoc(t, mapFile)
		must(t, d.UpdateServer(mcpproxy.ServerSpec{Name: "github", URL: "https://api.example.com/mcp",
			Headers: map[string]string{"Authorization": "Bearer t"}}))
		cfg := mustParse(t, string(d.Bytes()))
		if s, _ := cfg.Server("github"); s.Protocol != "" {
			t.Errorf("protocol = %q, want empty (auto)", s.Protocol)
		}
		if strings.Contains(string(d.Bytes()), `"type"`) {
			t.Errorf("type kept:\n%s", d.Bytes())
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		d := mustDoc(t, userFile)
		if err := d.UpdateServer(mcpproxy.ServerSpec{Name: "nope", Command: "c"}); mcpproxy.ErrorCode(err) != mcpproxy.ENOTFOUND {
			t.Errorf("err = %v", err)
		}
	})
}

func TestDocument_RemoveServer(t *testing.T) {
	d := mustDoc(t, mapFile)
	must(t, d.RemoveServer("github"))
	want := `{
  "listen": "127.0.0.1:8080",
  "mcpServers": [
    {
      "name": "files",
      "command": "npx",
      "args": [
        "fs"
      ],
      "x_custom": 1
    }
  ],
  "x_extra": true
}
`
	if got := string(d.Bytes()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	err := d.RemoveServer("github")
	var e *mcpproxy.Error
	if !errors.As(err, &e) || e.Code != mcpproxy.ENOTFOUND || e.Message != `server "github" not found` {
		t.Errorf("err = %v", err)
	}
}

func mustDoc(tb testing.TB, s string) *Document {
	tb.Helper()
	d, err := ParseDocument([]byte(s))
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func TestDocument_Server(t *testing.T) {
	for _, tc := range []struct {
		name, file, server string
		want               mcpproxy.ServerSpec
	}{
		{"Array", userFile, "local", mcpproxy.ServerSpec{Name: "local", Command: "npx", Args: []string{"-y", "pkg"}}},
		{"ArrayEnabledDefault", userFile, "remote", mcpproxy.ServerSpec{Name: "remote", URL: "https://h/mcp?a=1&b=<2>", Enabled: true,
			OAuth: &mcpproxy.OAuthSpec{ClientID: "abc", Scopes: []string{}}}},
		{"MapWithType", mapFile, "github", mcpproxy.ServerSpec{Name: "github", Protocol: mcpproxy.ProtocolHTTP,
			URL: "https://api.example.com/mcp", Headers: map[string]string{"Authorization": "Bearer t"}, Enabled: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustDoc(t, tc.file).Server(tc.server)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(&tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	t.Run("NotFound", func(t *testing.T) {
		if _, err := mustDoc(t, userFile).Server("nope"); mcpproxy.ErrorCode(err) != mcpproxy.ENOTFOUND {
			t.Errorf("err = %v, want not_found", err)
		}
	})
	t.Run("BadEntryNamesField", func(t *testing.T) {
		_, err := mustDoc(t, `{"mcpServers": [{"name": "a", "command": "x"}, {"name": "b", "args": "-v"}]}`).Server("b")
		if mcpproxy.ErrorCode(err) != mcpproxy.EINVALID || !strings.Contains(err.Error(), "mcpServers[1].args") {
			t.Errorf("err = %v, want invalid naming mcpServers[1].args", err)
		}
	})
}
