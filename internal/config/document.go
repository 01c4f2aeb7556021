package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// Document is the configuration file as an ordered JSON tree, for edits that
// must keep what the user wrote: key order, unknown fields, numbers as
// written. It does not validate; Writer.Edit re-parses the result.
//
// When the file uses the object-map form of mcpServers, the first method
// that actually changes a server converts mcpServers to the array form, each
// entry gaining "name" first: the array is the canonical form and the one
// that can carry fields the map form's clients would not understand.
//
// A Document is not safe for concurrent use.
type Document struct {
	root *node
}

// ParseDocument parses a configuration file into a Document. It fails only
// if data is not a JSON object.
func ParseDocument(data []byte) (*Document, error) {
	root, err := parseTree(data)
	if err != nil {
		return nil, err
	}
	return &Document{root: root}, nil
}

// Bytes returns the document as JSON indented by two spaces, with a trailing
// newline.
func (d *Document) Bytes() []byte {
	var b bytes.Buffer
	d.root.encode(&b, "  ", 0)
	b.WriteByte('\n')
	return b.Bytes()
}

// Top returns the compact JSON of a top-level key.
func (d *Document) Top(key string) (json.RawMessage, bool) {
	n, ok := d.root.get(key)
	if !ok {
		return nil, false
	}
	return n.compact(), true
}

// SetTop sets a top-level key to value's JSON encoding, in place if the key
// exists, else at the end. A nil value removes the key.
func (d *Document) SetTop(key string, value any) error {
	if value == nil {
		d.root.del(key)
		return nil
	}
	n, err := toNode(value)
	if err != nil {
		return mcpproxy.Errorf(mcpproxy.EINVALID, "%s: %v", key, err)
	}
	d.root.set(key, n)
	return nil
}

// ServersAsMap reports whether mcpServers is currently in the object-map form.
func (d *Document) ServersAsMap() bool {
	s, ok := d.root.get("mcpServers")
	return ok && s.kind == objectNode
}

// Server decodes the named server's entry as Parse would (enabled defaults
// to true), so that an edit can start from what the file holds now rather
// than from a config read before the edit began. It fails with ENOTFOUND
// when there is no such server, and with EINVALID errors naming the field
// when the entry does not decode.
func (d *Document) Server(name string) (mcpproxy.ServerSpec, error) {
	e, i, ok := d.findServer(name)
	if !ok {
		return mcpproxy.ServerSpec{}, notFound(name)
	}
	asMap := d.ServersAsMap()
	dc := &decoder{}
	s := dc.server(e, serverField(asMap, i, name), name, asMap)
	if len(dc.errs) > 0 {
		return mcpproxy.ServerSpec{}, errors.Join(dc.errs...)
	}
	return s, nil
}

// SetServerField sets one field of the named server. A nil value removes the
// field. Setting a field to what it already means (e.g. "enabled": true on
// an entry without "enabled") changes nothing.
func (d *Document) SetServerField(name, field string, value any) error {
	var v *node
	if value != nil {
		var err error
		if v, err = toNode(value); err != nil {
			return mcpproxy.Errorf(mcpproxy.EINVALID, "server %q: %s: %v", name, field, err)
		}
	}
	return d.editServer(name, func(e *node) {
		if v == nil {
			e.del(field)
		} else {
			e.setOrdered(field, v.clone(), specFieldOrder)
		}
	})
}

// AddServer appends a server, writing only the fields that carry
// information, in specFieldOrder.
func (d *Document) AddServer(spec mcpproxy.ServerSpec) error {
	if _, _, ok := d.findServer(spec.Name); ok {
		return mcpproxy.Errorf(mcpproxy.ECONFLICT, "server %q already exists", spec.Name)
	}
	servers := d.serversArray()
	e := &node{kind: objectNode}
	e.set("name", &node{raw: encodeString(spec.Name)})
	for _, f := range connectionFields {
		if v := specFieldNode(&spec, f); v != nil {
			e.setOrdered(f, v, specFieldOrder)
		}
	}
	// Enabled is always written: it is the field people look for and toggle.
	e.setOrdered("enabled", boolNode(spec.Enabled), specFieldOrder)
	if spec.Quarantined {
		e.setOrdered("quarantined", boolNode(true), specFieldOrder)
	}
	if spec.AutoApproveToolChanges {
		e.setOrdered("auto_approve_tool_changes", boolNode(true), specFieldOrder)
	}
	if v := specFieldNode(&spec, "oauth"); v != nil {
		e.setOrdered("oauth", v, specFieldOrder)
	}
	servers.vals = append(servers.vals, e)
	return nil
}

// UpdateServer replaces the connection fields of the server named
// spec.Name (everything but name, enabled, quarantined,
// auto_approve_tool_changes and oauth, which SetServerField sets) and keeps
// the entry's other fields. Fields whose meaning
// is unchanged are left as written.
func (d *Document) UpdateServer(spec mcpproxy.ServerSpec) error {
	return d.editServer(spec.Name, func(e *node) {
		cur, ok := decodeEntry(e, spec.Name, false)
		for _, f := range connectionFields {
			if ok && sameField(&cur, &spec, f) {
				continue
			}
			if f == "protocol" {
				// A VS Code "type" would otherwise keep overriding an absent
				// protocol.
				e.del("type")
			}
			if v := specFieldNode(&spec, f); v != nil {
				e.setOrdered(f, v, specFieldOrder)
			} else {
				e.del(f)
			}
		}
	})
}

// RemoveServer removes the named server.
func (d *Document) RemoveServer(name string) error {
	if _, _, ok := d.findServer(name); !ok {
		return notFound(name)
	}
	servers := d.serversArray()
	_, i, _ := d.findServer(name)
	servers.vals = slices.Delete(servers.vals, i, i+1)
	return nil
}

// specFieldOrder is the order of fields in entries we write.
var specFieldOrder = serverFields

// connectionFields are the fields UpdateServer replaces.
var connectionFields = []string{
	"protocol", "command", "args", "env", "working_dir", "url", "headers",
	"connect_timeout", "call_timeout",
}

func notFound(name string) error {
	return mcpproxy.Errorf(mcpproxy.ENOTFOUND, "server %q not found", name)
}

// findServer locates a server's entry by name in either form.
func (d *Document) findServer(name string) (entry *node, index int, ok bool) {
	servers, present := d.root.get("mcpServers")
	if !present {
		return nil, -1, false
	}
	switch servers.kind {
	case objectNode:
		if i := servers.index(name); i >= 0 {
			return servers.vals[i], i, true
		}
	case arrayNode:
		for i, e := range servers.vals {
			if e.kind != objectNode {
				continue
			}
			if n, has := e.get("name"); has {
				if s, isStr := n.str(); isStr && s == name {
					return e, i, true
				}
			}
		}
	}
	return nil, -1, false
}

// editServer applies edit to the named entry unless that would change
// nothing, by spelling or by meaning; only a real change converts the map
// form, so that a no-op edit leaves the file alone.
func (d *Document) editServer(name string, edit func(e *node)) error {
	e, _, ok := d.findServer(name)
	if !ok {
		return notFound(name)
	}
	asMap := d.ServersAsMap()
	trial := e.clone()
	edit(trial)
	if bytes.Equal(trial.compact(), e.compact()) {
		return nil
	}
	before, okBefore := decodeEntry(e, name, asMap)
	after, okAfter := decodeEntry(trial, name, asMap)
	if okBefore && okAfter && before.Equal(&after) && sameKnownExtras(e, trial) {
		return nil
	}
	d.serversArray()
	e, _, _ = d.findServer(name)
	edit(e)
	return nil
}

// sameKnownExtras compares the keys a ServerSpec does not hold, so that a
// meaning-preserving edit of "enabled" is not confused with an edit of, say,
// "description".
func sameKnownExtras(a, b *node) bool {
	strip := func(n *node) []byte {
		c := n.clone()
		for _, f := range specFieldOrder {
			c.del(f)
		}
		c.del("type")
		return c.compact()
	}
	return bytes.Equal(strip(a), strip(b))
}

// serversArray returns mcpServers as an array node, creating it or
// converting the map form first.
func (d *Document) serversArray() *node {
	servers, ok := d.root.get("mcpServers")
	switch {
	case ok && servers.kind == arrayNode:
		return servers
	case ok && servers.kind == objectNode:
		arr := &node{kind: arrayNode, vals: make([]*node, 0, len(servers.vals))}
		for i, v := range servers.vals {
			if v.kind == objectNode {
				v.del("name")
				v.insert(0, "name", &node{raw: encodeString(servers.keys[i])})
			}
			arr.vals = append(arr.vals, v)
		}
		d.root.set("mcpServers", arr)
		return arr
	}
	arr := &node{kind: arrayNode}
	d.root.set("mcpServers", arr)
	return arr
}

func boolNode(b bool) *node {
	if b {
		return &node{raw: []byte("true")}
	}
	return &node{raw: []byte("false")}
}

func stringNode(s string) *node { return &node{raw: encodeString(s)} }

// specFieldNode returns the JSON for one field of s, or nil when the field is
// empty and should not be written.
func specFieldNode(s *mcpproxy.ServerSpec, field string) *node {
	str := func(v string) *node {
		if v == "" {
			return nil
		}
		return stringNode(v)
	}
	strMap := func(m map[string]string) *node {
		if len(m) == 0 {
			return nil
		}
		n := &node{kind: objectNode}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			n.set(k, stringNode(m[k]))
		}
		return n
	}
	dur := func(v mcpproxy.Duration) *node {
		if v == 0 {
			return nil
		}
		return stringNode(formatDuration(v.D()))
	}
	switch field {
	case "name":
		return str(s.Name)
	case "protocol":
		return str(string(s.Protocol))
	case "command":
		return str(s.Command)
	case "args":
		if len(s.Args) == 0 {
			return nil
		}
		n := &node{kind: arrayNode}
		for _, a := range s.Args {
			n.vals = append(n.vals, stringNode(a))
		}
		return n
	case "env":
		return strMap(s.Env)
	case "working_dir":
		return str(s.WorkingDir)
	case "url":
		return str(s.URL)
	case "headers":
		return strMap(s.Headers)
	case "connect_timeout":
		return dur(s.ConnectTimeout)
	case "call_timeout":
		return dur(s.CallTimeout)
	case "oauth":
		if s.OAuth == nil {
			return nil
		}
		n, _ := toNode(s.OAuth) // strings, a string slice and an int always encode
		return n
	}
	return nil
}

// sameField reports whether field means the same in a and b: whether it
// would be written the same (absent when empty).
func sameField(a, b *mcpproxy.ServerSpec, field string) bool {
	na, nb := specFieldNode(a, field), specFieldNode(b, field)
	if na == nil || nb == nil {
		return na == nil && nb == nil
	}
	return bytes.Equal(na.compact(), nb.compact())
}

// formatDuration writes "2m" rather than time.Duration's "2m0s", as a person
// would.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
