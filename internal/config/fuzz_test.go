package config

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		userFile,
		mapFile,
		string(defaultFile("key")),
		`{}`,
		`{"mcpServers": null}`,
		`{"mcpServers": {"a": {"type": "sse", "url": "http://h", "name": "a"}}}`,
		`{"mcpServers": [{"name": "a", "command": "c", "call_timeout": 1.5, "env": {"K": "V"}}]}`,
		`{"tools_limit": 1e2, "listen": "[::1]:80", "x": [1, {"y": null}]}`,
		`{"a": 1, "a": 2, "mcpServers": [], "mcpServers": {"b": {"command": "c"}}}`,
		`{"mcpServers": [{"name": "a b"}]}`,
		"{\n  \"listen\": x\n}",
		`{"s": "\u00e9\ud800<>&"}`,
		``,
		`[]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := Parse(data)
		if err != nil {
			if cfg != nil {
				t.Fatal("config returned with an error")
			}
			if code := mcpproxy.ErrorCode(err); code != mcpproxy.EINVALID {
				t.Fatalf("error code %q for %v", code, err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
		// What Writer.Edit writes must mean what the file meant.
		d, err := ParseDocument(data)
		if err != nil {
			t.Fatalf("Parse accepted what ParseDocument rejects: %v", err)
		}
		out := d.Bytes()
		cfg2, _, err := Parse(out)
		if err != nil {
			t.Fatalf("re-encoded document does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(cfg, cfg2) {
			t.Fatalf("re-encoding changed the config:\n%+v\n%+v", cfg, cfg2)
		}
		d2, err := ParseDocument(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(d2.Bytes(), out) {
			t.Fatalf("Bytes is not stable:\n%s\n%s", out, d2.Bytes())
		}
	})
}
