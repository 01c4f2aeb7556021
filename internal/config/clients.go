package config

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/tailscale/hujson"
)

// Layouts of the server list in an MCP client's config file, as
// ParseClientServers reports them.
const (
	// LayoutMCPServers is "mcpServers", an object map or an array: Claude
	// Desktop, Cursor and mcpproxy itself.
	LayoutMCPServers = "mcpServers"
	// LayoutVSCode is VS Code's mcp.json: "servers", entries with "type".
	LayoutVSCode = "servers"
	// LayoutVSCodeSettings is VS Code's settings.json: "mcp": {"servers": …}.
	LayoutVSCodeSettings = "mcp.servers"
)

// ClientServer is one server entry of an MCP client's config file.
type ClientServer struct {
	// Field is where the entry sits in the file, the way messages name it:
	// mcpServers.github, servers["my server"], mcpServers[2].
	Field string
	Spec  mcpproxy.ServerSpec
	// Warnings are problems that do not stop the entry from being used:
	// unknown fields (ignored) and VS Code ${input:…} variables, which only
	// VS Code can fill in.
	Warnings []string
	// Err says why the entry cannot be used, one EINVALID *mcpproxy.Error
	// per problem naming its field, joined; nil when the entry is valid.
	Err error
}

// ParseClientServers reads the MCP servers in an MCP client's config file:
// "mcpServers" as an object map or an array (Claude Desktop, Cursor,
// mcpproxy), VS Code's mcp.json ("servers", whose "type" is the protocol;
// "inputs" and other top-level keys are ignored) or VS Code's settings.json
// ("mcp": {"servers": …}). Comments and trailing commas, which VS Code
// allows, are accepted.
//
// Each entry is decoded and validated on its own, as the daemon would read
// it, so that one bad entry does not hide the others. ParseClientServers
// fails only when data is not a JSON object or has no server list.
func ParseClientServers(data []byte) (layout string, servers []ClientServer, err error) {
	root, err := parseTree(stripJSONC(data))
	if err != nil {
		return "", nil, err
	}
	list, prefix := findServerList(root)
	if list == nil {
		return "", nil, invalidf(`config: no "mcpServers" or "servers" key: not an MCP client config`)
	}
	switch list.kind {
	case objectNode:
		for i, key := range list.keys {
			servers = append(servers, clientServer(list.vals[i], mapField(prefix, key), key, true))
		}
	case arrayNode:
		for i, e := range list.vals {
			servers = append(servers, clientServer(e, fmt.Sprintf("%s[%d]", prefix, i), "", false))
		}
	default:
		return "", nil, invalidf("%s: want an object or array of servers", prefix)
	}
	return prefix, servers, nil
}

// findServerList returns the server list of a client config and its path.
func findServerList(root *node) (*node, string) {
	if n, ok := root.get("mcpServers"); ok && !n.isNull() {
		return n, LayoutMCPServers
	}
	if n, ok := root.get("servers"); ok && !n.isNull() {
		return n, LayoutVSCode
	}
	if mcp, ok := root.get("mcp"); ok && mcp.kind == objectNode {
		if n, ok := mcp.get("servers"); ok && !n.isNull() {
			return n, LayoutVSCodeSettings
		}
	}
	return nil, ""
}

// mapField names the entry under key of an object map, quoting keys that
// would not read as a plain path element.
func mapField(prefix, key string) string {
	if validName(key) {
		return prefix + "." + key
	}
	return prefix + "[" + strconv.Quote(key) + "]"
}

func clientServer(e *node, field, key string, asMap bool) ClientServer {
	cs := ClientServer{Field: field}
	if e.kind != objectNode {
		cs.Spec.Name = key
		cs.Err = invalidf("%s: want object", field)
		return cs
	}
	dc := &decoder{}
	cs.Spec = dc.server(e, field, key, asMap)
	if err := ValidateServer(&cs.Spec, field); err != nil {
		dc.errs = append(dc.errs, err)
	}
	cs.Warnings = append(dc.warnings, inputWarnings(&cs.Spec, field)...)
	if len(dc.errs) > 0 {
		cs.Err = joinErrors(dc.errs)
	}
	return cs
}

// joinErrors flattens nested joins so that Unwrap() []error lists each
// problem once.
func joinErrors(errs []error) error {
	var flat []error
	for _, err := range errs {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			flat = append(flat, j.Unwrap()...)
		} else {
			flat = append(flat, err)
		}
	}
	if len(flat) == 1 {
		return flat[0]
	}
	return errors.Join(flat...)
}

// inputRE matches a VS Code input variable, ${input:id}.
var inputRE = regexp.MustCompile(`\$\{input:[^}]*\}`)

// inputWarnings names each field that uses a VS Code ${input:…} variable:
// mcpproxy passes such text on unchanged, so the value must be set by hand.
func inputWarnings(s *mcpproxy.ServerSpec, field string) []string {
	var out []string
	check := func(f, v string) {
		for _, m := range inputRE.FindAllString(v, -1) {
			out = append(out, fmt.Sprintf("%s: %s is a VS Code input variable that mcpproxy does not fill in: set the value, or ${env:NAME}, in mcpproxy's config", f, m))
		}
	}
	check(field+".command", s.Command)
	for i, a := range s.Args {
		check(fmt.Sprintf("%s.args[%d]", field, i), a)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		check(field+".env"+pathElem(k, false), s.Env[k])
	}
	check(field+".working_dir", s.WorkingDir)
	check(field+".url", s.URL)
	for _, k := range slices.Sorted(maps.Keys(s.Headers)) {
		check(field+".headers"+pathElem(k, false), s.Headers[k])
	}
	return out
}

// stripJSONC turns JSON with comments and trailing commas (VS Code's
// "JSONC") into JSON, with hujson. Comments and trailing commas become
// spaces, so that syntax errors keep their line and column. Input hujson
// cannot read is returned as it is, for the JSON parser to report where it
// breaks.
func stripJSONC(data []byte) []byte {
	// hujson wants a line comment to end with a newline, which the last
	// line of a file may lack.
	std, err := hujson.Standardize(append(slices.Clone(data), '\n'))
	if err != nil {
		return data
	}
	return std[:len(data)]
}
