package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// A server entry reaches the daemon through the config file and through
// APIs; all of them decode it with the file's decoder, so that a field
// means the same, and is checked the same, wherever it is written. What
// differs is who may set which fields.

// Fields is a set of server-entry keys: those a surface may set.
type Fields []string

var (
	// PersonFields are the keys a person sets through the REST API and
	// the CLI: every field of a ServerSpec. (Clearing quarantined is an
	// approval, which takes the fingerprint of what the person reviewed;
	// the REST API refuses it here.)
	PersonFields = Fields(serverFields)
	// AgentFields are the keys an agent sets through upstream_servers: how
	// a server runs and where it connects. What a server is trusted with
	// (quarantined, auto_approve_tool_changes), whether it runs (enabled,
	// which has its own operations) and its OAuth client, which holds a
	// secret, are a person's.
	AgentFields = Fields{"name", "protocol", "command", "args", "env", "working_dir", "url", "headers"}
)

// InputOptions says how DecodeServerInput reads an entry.
type InputOptions struct {
	// Field names the entry in messages: "body", "arguments".
	Field string
	// Allowed are the keys the caller may set.
	Allowed Fields
	// Lenient ignores keys outside Allowed, naming them in
	// ServerInput.Ignored, rather than refusing the entry.
	Lenient bool
	// Extra are keys of the caller's own that share the object (such as
	// upstream_servers' "operation"); they are skipped.
	Extra []string
}

// ServerInput is a server entry as an API caller sent it.
type ServerInput struct {
	// Spec holds the fields that were present; the others are zero, but
	// Enabled, which defaults to true as in the file.
	Spec mcpproxy.ServerSpec
	// Ignored are the keys left out under InputOptions.Lenient, sorted.
	Ignored []string
	set     []string
}

// Has reports whether key was present and not null. A null means absent,
// as in the file; an empty string, array or object is present.
func (in *ServerInput) Has(key string) bool { return slices.Contains(in.set, key) }

// Set returns the keys that were present and not null, in Allowed order.
func (in *ServerInput) Set() []string { return slices.Clone(in.set) }

// Apply overwrites the fields of s that in holds.
func (in *ServerInput) Apply(s *mcpproxy.ServerSpec) {
	for _, k := range in.set {
		switch k {
		case "name":
			s.Name = in.Spec.Name
		case "protocol":
			s.Protocol = in.Spec.Protocol
		case "command":
			s.Command = in.Spec.Command
		case "args":
			s.Args = slices.Clone(in.Spec.Args)
		case "env":
			s.Env = maps.Clone(in.Spec.Env)
		case "working_dir":
			s.WorkingDir = in.Spec.WorkingDir
		case "url":
			s.URL = in.Spec.URL
		case "headers":
			s.Headers = maps.Clone(in.Spec.Headers)
		case "enabled":
			s.Enabled = in.Spec.Enabled
		case "quarantined":
			s.Quarantined = in.Spec.Quarantined
		case "connect_timeout":
			s.ConnectTimeout = in.Spec.ConnectTimeout
		case "call_timeout":
			s.CallTimeout = in.Spec.CallTimeout
		case "auto_approve_tool_changes":
			s.AutoApproveToolChanges = in.Spec.AutoApproveToolChanges
		case "oauth":
			if o := in.Spec.OAuth; o != nil {
				c := *o
				c.Scopes = slices.Clone(o.Scopes)
				s.OAuth = &c
			}
		}
	}
}

// DecodeServerInput decodes one server entry, a JSON object, as the config
// file's decoder does. Every problem is reported, each naming its field
// (body.args[1]: want string, got number), as EINVALID errors joined with
// errors.Join. It does not validate the entry as a whole; ValidateServer
// does, once the caller has merged it with what the file holds.
func DecodeServerInput(data []byte, opts InputOptions) (*ServerInput, error) {
	field := opts.Field
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, invalidf("%s: empty; want a JSON object with the server's fields", field)
	}
	if err := json.Unmarshal(data, new(any)); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, invalidf("%s: invalid JSON at byte %d: %v", field, se.Offset, se)
		}
		return nil, invalidf("%s: invalid JSON: %v", field, err)
	}
	root, err := parseValue(data)
	if err != nil {
		return nil, invalidf("%s: invalid JSON: %v", field, err)
	}
	if root.kind != objectNode {
		return nil, invalidf("%s: want a JSON object, got %s", field, root.kindName())
	}
	dc := &decoder{strict: true, collectAt: field}
	spec, set := dc.entry(root, field, "", false, slices.Concat(opts.Allowed, opts.Extra))
	in := &ServerInput{Spec: spec}
	for _, k := range opts.Allowed {
		if slices.Contains(set, k) {
			in.set = append(in.set, k)
		}
	}
	unknown := slices.Compact(slices.Sorted(slices.Values(dc.unknownKeys)))
	switch {
	case len(unknown) == 0:
	case opts.Lenient:
		in.Ignored = unknown
	default:
		quoted := make([]string, len(unknown))
		for i, k := range unknown {
			quoted[i] = strconv.Quote(k)
		}
		s, hint := "", ""
		if len(unknown) > 1 {
			s = "s"
		} else if h := unknownHint(unknown[0], opts.Allowed); h != "" {
			hint = " (" + h + ")"
		}
		dc.errs = append(dc.errs, invalidf("%s: unknown field%s %s%s; known fields: %s",
			field, s, strings.Join(quoted, ", "), hint, strings.Join(opts.Allowed, ", ")))
	}
	if len(dc.errs) > 0 {
		return nil, errors.Join(dc.errs...)
	}
	return in, nil
}
