package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// nameRE keeps server names safe to use in tool ids, URLs and file names.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// validName reports whether name is a usable server name: nameRE, and not
// "." or "..", which a URL path or a file path would resolve away (the
// REST API's /api/v1/servers/.. is /api/, so such a server could never be
// managed).
func validName(name string) bool {
	return nameRE.MatchString(name) && name != "." && name != ".."
}

// Validate reports every problem in c, one *mcpproxy.Error (EINVALID) per
// problem, joined with errors.Join; nil if c is valid.
func (c *Config) Validate() error {
	var errs []error
	if !validListen(c.Listen) {
		errs = append(errs, invalidf("listen: invalid address %q: want host:port", c.Listen))
	}
	if c.ToolsLimit < 1 || c.ToolsLimit > 100 {
		errs = append(errs, invalidf("tools_limit: must be between 1 and 100, got %d", c.ToolsLimit))
	}
	if c.ToolResponseLimit < 0 {
		errs = append(errs, invalidf("tool_response_limit: must not be negative, got %d", c.ToolResponseLimit))
	}
	if c.CallToolTimeout <= 0 {
		errs = append(errs, invalidf("call_tool_timeout: must be positive, got %s", c.CallToolTimeout.D()))
	}
	if c.ConnectTimeout <= 0 {
		errs = append(errs, invalidf("connect_timeout: must be positive, got %s", c.ConnectTimeout.D()))
	}
	if c.InstallTimeout <= 0 {
		errs = append(errs, invalidf("install_timeout: must be positive, got %s", c.InstallTimeout.D()))
	}
	if c.ActivityRetentionDays < 1 {
		errs = append(errs, invalidf("activity_retention_days: must be at least 1, got %d", c.ActivityRetentionDays))
	}
	if c.ActivityMaxRecords < 1 {
		errs = append(errs, invalidf("activity_max_records: must be at least 1, got %d", c.ActivityMaxRecords))
	}
	switch c.SensitiveData {
	case SensitiveFlag, SensitiveRedact, SensitiveBlock:
	default:
		errs = append(errs, invalidf("sensitive_data: unknown mode %q: use flag, redact or block", c.SensitiveData))
	}
	switch c.ToolResponseMode {
	case ResponseFull, ResponseCompact:
	default:
		errs = append(errs, invalidf("tool_response_mode: unknown mode %q: use full or compact", c.ToolResponseMode))
	}
	if c.ResultCacheMaxBytes < 0 {
		errs = append(errs, invalidf("result_cache_max_bytes: must not be negative, got %d", c.ResultCacheMaxBytes))
	}
	first := make(map[string]string, len(c.Servers))
	for i := range c.Servers {
		s := &c.Servers[i]
		field := serverField(c.ServersAsMap, i, s.Name)
		if err := ValidateServer(s, field); err != nil {
			errs = append(errs, err)
		}
		if s.Name == "" {
			continue
		}
		if prev, dup := first[s.Name]; dup {
			errs = append(errs, invalidf("%s.name: duplicate name %q (also %s)", field, s.Name, prev))
			continue
		}
		first[s.Name] = field
	}
	return errors.Join(errs...)
}

// ValidateServer checks one server on its own (not against other servers).
// field prefixes every message, e.g. "mcpServers[3]" or, for API input,
// whatever names the value for the caller.
func ValidateServer(s *mcpproxy.ServerSpec, field string) error {
	var errs []error
	switch {
	case s.Name == "":
		errs = append(errs, invalidf("%s.name: required", field))
	case s.Name == "." || s.Name == "..":
		errs = append(errs, invalidf("%s.name: invalid name %q: \".\" and \"..\" are path segments, not names", field, s.Name))
	case !validName(s.Name):
		errs = append(errs, invalidf("%s.name: invalid name %q: use 1-64 of A-Z a-z 0-9 _ . -", field, s.Name))
	}
	switch s.Protocol {
	case "", mcpproxy.ProtocolAuto:
		if s.Command == "" && s.URL == "" {
			errs = append(errs, invalidf(`%s: needs "command" (stdio) or "url" (HTTP)`, field))
		}
	case mcpproxy.ProtocolStdio:
		if s.Command == "" {
			errs = append(errs, invalidf("%s.command: required for protocol stdio", field))
		}
	case mcpproxy.ProtocolStreamableHTTP, mcpproxy.ProtocolHTTP, mcpproxy.ProtocolSSE:
		if s.URL == "" {
			errs = append(errs, invalidf("%s.url: required for protocol %s", field, s.Protocol))
		}
	default:
		errs = append(errs, unknownProtocol(field+".protocol", string(s.Protocol)))
	}
	if s.URL != "" && !validURL(s.URL) {
		errs = append(errs, invalidf("%s.url: invalid URL %q", field, s.URL))
	}
	if s.ConnectTimeout < 0 {
		errs = append(errs, invalidf("%s.connect_timeout: must not be negative, got %s", field, s.ConnectTimeout.D()))
	}
	if s.CallTimeout < 0 {
		errs = append(errs, invalidf("%s.call_timeout: must not be negative, got %s", field, s.CallTimeout.D()))
	}
	if o := s.OAuth; o != nil {
		if s.Transport() == mcpproxy.ProtocolStdio {
			errs = append(errs, invalidf("%s.oauth: only HTTP and SSE servers log in with OAuth, not stdio", field))
		}
		if o.ClientSecret != "" && o.ClientID == "" {
			errs = append(errs, invalidf("%s.oauth.client_secret: needs oauth.client_id", field))
		}
		if o.RedirectPort < 0 || o.RedirectPort > 65535 {
			errs = append(errs, invalidf("%s.oauth.redirect_port: must be between 1 and 65535 (or 0 for any free port), got %d", field, o.RedirectPort))
		}
		for i, sc := range o.Scopes {
			if sc == "" || strings.ContainsAny(sc, " \t\r\n\"\\") {
				errs = append(errs, invalidf("%s.oauth.scopes[%d]: invalid scope %q: no spaces, quotes or backslashes", field, i, sc))
			}
		}
	}
	return errors.Join(errs...)
}

func knownProtocol(p string) bool {
	return p == "" || slices.Contains(mcpproxy.Protocols, mcpproxy.Protocol(p))
}

func unknownProtocol(field, p string) error {
	return invalidf("%s: unknown protocol %q: use stdio, streamable-http, http, sse or auto", field, p)
}

// serverField names a server in messages the way the user wrote it: by index
// in the array form, by key in the map form (quoted when the key would not
// read as a plain path element).
func serverField(asMap bool, i int, name string) string {
	if !asMap {
		return fmt.Sprintf("mcpServers[%d]", i)
	}
	if validName(name) {
		return "mcpServers." + name
	}
	return fmt.Sprintf("mcpServers[%q]", name)
}

func validListen(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	_, err = strconv.ParseUint(port, 10, 16)
	return err == nil
}

func validURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	return (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
