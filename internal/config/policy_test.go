package config

import (
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

func TestConfig_Allow(t *testing.T) {
	ops := []string{"list", "add", "remove", "update", "enable", "disable", "restart"}
	for _, tc := range []struct {
		name  string
		set   func(c *Config)
		key   string   // named in every refusal
		allow []string // the operations that pass
	}{
		{"Default", func(c *Config) {}, "", ops},
		{"ReadOnly", func(c *Config) { c.ReadOnly = true }, "read_only", []string{"list"}},
		{"DisableManagement", func(c *Config) { c.DisableManagement = true }, "disable_management", nil},
		{"DisableManagementWinsOverReadOnly", func(c *Config) { c.DisableManagement, c.ReadOnly = true, true }, "disable_management", nil},
		{"NoAdd", func(c *Config) { c.AllowServerAdd = false }, "allow_server_add: false",
			[]string{"list", "remove", "update", "enable", "disable", "restart"}},
		{"NoRemove", func(c *Config) { c.AllowServerRemove = false }, "allow_server_remove: false",
			[]string{"list", "add", "update", "enable", "disable", "restart"}},
		{"ReadOnlyWinsOverNoAdd", func(c *Config) { c.ReadOnly, c.AllowServerAdd = true, false }, "read_only", []string{"list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.set(c)
			for _, op := range ops {
				err := c.Allow(op)
				allowed := false
				for _, a := range tc.allow {
					allowed = allowed || a == op
				}
				switch {
				case allowed && err != nil:
					t.Errorf("Allow(%q) = %v, want nil", op, err)
				case !allowed && err == nil:
					t.Errorf("Allow(%q) = nil, want refused naming %s", op, tc.key)
				case !allowed && (mcpproxy.ErrorCode(err) != mcpproxy.EFORBIDDEN || !strings.Contains(err.Error(), "("+tc.key)):
					t.Errorf("Allow(%q) = %s %q, want forbidden naming (%s", op, mcpproxy.ErrorCode(err), err, tc.key)
				}
			}
		})
	}
	t.Run("UnknownOperation", func(t *testing.T) {
		for _, op := range []string{"", "approve", "LIST"} {
			if err := Default().Allow(op); mcpproxy.ErrorCode(err) != mcpproxy.EINVALID {
				t.Errorf("Allow(%q) = %v, want invalid", op, err)
			}
		}
	})
	t.Run("Messages", func(t *testing.T) {
		c := Default()
		c.ReadOnly = true
		if got, want := c.Allow("add").Error(), "this proxy is read-only (read_only in its config)"; got != want {
			t.Errorf("read_only: %q, want %q", got, want)
		}
	})
}
