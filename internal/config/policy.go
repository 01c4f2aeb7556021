package config

import "github.com/mcpproxy/mcpproxy/internal/mcpproxy"

// Allow reports whether the config's management policy permits a server
// operation: one of "list", "add", "remove", "update", "enable", "disable"
// or "restart". It returns nil, or an EFORBIDDEN *mcpproxy.Error whose
// message names the config key that refuses it, so that every surface (MCP,
// REST, …) refuses the same things in the same words. An unknown operation
// is refused with EINVALID rather than allowed.
//
// "list" is refused only when management is disabled altogether; surfaces
// that merely show status to a person need not ask. Approving a quarantined
// server is not an operation here: read_only must never stop a person from
// clearing quarantine.
func (c *Config) Allow(op string) error {
	switch op {
	case "list", "add", "remove", "update", "enable", "disable", "restart":
	default:
		return mcpproxy.Errorf(mcpproxy.EINVALID, "unknown server operation %q", op)
	}
	switch {
	case c.DisableManagement:
		return mcpproxy.Errorf(mcpproxy.EFORBIDDEN, "server management is disabled in this proxy's config (disable_management)")
	case op == "list":
		return nil
	case c.ReadOnly:
		return mcpproxy.Errorf(mcpproxy.EFORBIDDEN, "this proxy is read-only (read_only in its config)")
	case op == "add" && !c.AllowServerAdd:
		return mcpproxy.Errorf(mcpproxy.EFORBIDDEN, "adding servers is not allowed by this proxy's config (allow_server_add: false)")
	case op == "remove" && !c.AllowServerRemove:
		return mcpproxy.Errorf(mcpproxy.EFORBIDDEN, "removing servers is not allowed by this proxy's config (allow_server_remove: false)")
	}
	return nil
}
