package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOverrides_Apply(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"MCPPROXY_LISTEN": "127.0.0.1:9", "MCPPROXY_DATA_DIR": "~/d"}
	for _, tt := range []struct {
		name              string
		o                 Overrides
		file              Config
		listen, key, data string
	}{
		{"FileKept", Overrides{Home: "/h"}, Config{Listen: "l", APIKey: "k", DataDir: "/f"}, "l", "k", "/f"},
		{"HomeIsDefault", Overrides{Home: "/h"}, Config{}, "", "", "/h"},
		{"OverridesWin", Overrides{Listen: "o", APIKey: "ok", DataDir: "/o", Home: "/h"}, Config{Listen: "l", APIKey: "k", DataDir: "/f"}, "o", "ok", "/o"},
		{"Environment", EnvOverrides(func(k string) string { return env[k] }, "/h"), Config{Listen: "l", APIKey: "k"}, "127.0.0.1:9", "k", filepath.Join(home, "d")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.file
			tt.o.Apply(&c)
			if c.Listen != tt.listen || c.APIKey != tt.key || c.DataDir != tt.data {
				t.Errorf("got listen %q key %q data %q, want %q %q %q", c.Listen, c.APIKey, c.DataDir, tt.listen, tt.key, tt.data)
			}
		})
	}
}
