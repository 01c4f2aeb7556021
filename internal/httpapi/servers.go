package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// maxBodyBytes bounds a request body. A server entry is a few hundred
// bytes; anything near this size is a mistake or an attack.
const maxBodyBytes = 1 << 20

// allow refuses h's operation when the config's management policy does
// (read_only, disable_management, allow_server_add, allow_server_remove),
// before the request body is read. It asks the same config.Allow as the
// MCP tool upstream_servers, so both refuse the same things.
func (a *API) allow(op string, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := a.b.Config().Allow(op); err != nil {
			return err
		}
		return h(w, r)
	}
}

// addServer serves POST /api/v1/servers: the body is one config entry. A
// server a person adds is trusted as written, unless the config sets
// quarantine_new_servers.
func (a *API) addServer(w http.ResponseWriter, r *http.Request) error {
	body, err := readServerBody(w, r)
	if err != nil {
		return err
	}
	spec := mcpproxy.ServerSpec{Enabled: true}
	body.apply(&spec)
	if err := config.ValidateServer(&spec, "body"); err != nil {
		return oneError(err)
	}
	spec.Quarantined = a.b.Config().QuarantineNewServers
	var stored mcpproxy.ServerSpec
	err = a.b.Edit(r.Context(), func(d *config.Document) error {
		if err := d.AddServer(spec); err != nil {
			return err
		}
		var err error
		stored, err = d.Server(spec.Name)
		return err
	})
	if err != nil {
		return oneError(err)
	}
	w.Header().Set("Location", "/api/v1/servers/"+url.PathEscape(stored.Name))
	writeOK(w, http.StatusCreated, stored.Masked())
	return nil
}

// updateServer serves PATCH /api/v1/servers/{name}: the fields present in
// the body replace the entry's, the others keep what the file holds when
// the edit runs. A person's change is trusted: it does not quarantine.
func (a *API) updateServer(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	body, err := readServerBody(w, r)
	if err != nil {
		return err
	}
	if body.Name != nil && *body.Name != name {
		return mcpproxy.Errorf(mcpproxy.EINVALID, "body.name: %q is not the server in the path (%q); servers cannot be renamed", *body.Name, name)
	}
	if body.empty() {
		return mcpproxy.Errorf(mcpproxy.EINVALID, "body: no field to change; pass any of %s", strings.Join(serverBodyFields[1:], ", "))
	}
	var stored mcpproxy.ServerSpec
	err = a.b.Edit(r.Context(), func(d *config.Document) error {
		spec, err := d.Server(name)
		if err != nil {
			return err
		}
		body.apply(&spec)
		if err := config.ValidateServer(&spec, "body"); err != nil {
			return err
		}
		if err := d.UpdateServer(spec); err != nil {
			return err
		}
		if body.Enabled != nil {
			if err := d.SetServerField(name, "enabled", *body.Enabled); err != nil {
				return err
			}
		}
		stored, err = d.Server(name)
		return err
	})
	if err != nil {
		return oneError(err)
	}
	writeOK(w, http.StatusOK, stored.Masked())
	return nil
}

// removeServer serves DELETE /api/v1/servers/{name}.
func (a *API) removeServer(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := a.b.Edit(r.Context(), func(d *config.Document) error { return d.RemoveServer(name) }); err != nil {
		return err
	}
	writeOK(w, http.StatusOK, map[string]any{"server": name, "removed": true})
	return nil
}

// oneError folds errors.Join'ed application errors (ValidateServer reports
// every problem) into one, so that the response lists them all rather than
// the first.
func oneError(err error) error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	var msgs []string
	for _, e := range j.Unwrap() {
		msgs = append(msgs, mcpproxy.ErrorMessage(e))
	}
	return &mcpproxy.Error{Code: mcpproxy.ErrorCode(err), Message: strings.Join(msgs, "; ")}
}

// serverBody is a config entry in a request body. A nil field was absent or
// null and leaves the entry's value alone; an empty string, array or object
// is present and clears it.
type serverBody struct {
	Name, Protocol, Command, WorkingDir, URL *string
	Args                                     *[]string
	Env, Headers                             *map[string]string
	Enabled                                  *bool
	ConnectTimeout, CallTimeout              *mcpproxy.Duration
}

// serverBodyFields are the keys a body may hold, in config order.
var serverBodyFields = []string{
	"name", "protocol", "command", "args", "env", "working_dir", "url", "headers",
	"enabled", "connect_timeout", "call_timeout",
}

func (b *serverBody) empty() bool {
	return b.Protocol == nil && b.Command == nil && b.WorkingDir == nil && b.URL == nil &&
		b.Args == nil && b.Env == nil && b.Headers == nil && b.Enabled == nil &&
		b.ConnectTimeout == nil && b.CallTimeout == nil
}

// apply overwrites the fields of s that b holds.
func (b *serverBody) apply(s *mcpproxy.ServerSpec) {
	if b.Name != nil {
		s.Name = *b.Name
	}
	if b.Protocol != nil {
		s.Protocol = mcpproxy.Protocol(*b.Protocol)
	}
	if b.Command != nil {
		s.Command = *b.Command
	}
	if b.Args != nil {
		s.Args = slices.Clone(*b.Args)
	}
	if b.Env != nil {
		s.Env = maps.Clone(*b.Env)
	}
	if b.WorkingDir != nil {
		s.WorkingDir = *b.WorkingDir
	}
	if b.URL != nil {
		s.URL = *b.URL
	}
	if b.Headers != nil {
		s.Headers = maps.Clone(*b.Headers)
	}
	if b.Enabled != nil {
		s.Enabled = *b.Enabled
	}
	if b.ConnectTimeout != nil {
		s.ConnectTimeout = *b.ConnectTimeout
	}
	if b.CallTimeout != nil {
		s.CallTimeout = *b.CallTimeout
	}
}

// readServerBody reads at most maxBodyBytes of the request body and decodes
// it strictly.
func readServerBody(w http.ResponseWriter, r *http.Request) (*serverBody, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, mcpproxy.Errorf(mcpproxy.ETOOLARGE, "body: larger than %d bytes; a server entry is a small JSON object", tooLarge.Limit)
		}
		return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "body: %v", err)
	}
	return parseServerBody(data)
}

// parseServerBody decodes a JSON object of serverBodyFields. It does its
// own walk rather than json.Decoder.DisallowUnknownFields so that every
// message names the field (body.args[1], body.env.HOME), keys match
// exactly rather than case-insensitively, and every unknown key is reported.
func parseServerBody(data []byte) (*serverBody, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "body: empty; want a JSON object with the server's fields")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "body: invalid JSON at byte %d: %v", se.Offset, se)
		}
		return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "body: want a JSON object, got %s", kind(bytes.TrimSpace(data)))
	}
	if obj == nil {
		return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "body: want a JSON object, got null")
	}
	var unknown []string
	for k := range obj {
		if !slices.Contains(serverBodyFields, k) {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		s := ""
		if len(unknown) > 1 {
			s = "s"
		}
		return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "body: unknown field%s %s; known fields: %s", s, strings.Join(unknown, ", "), strings.Join(serverBodyFields, ", "))
	}
	b := &serverBody{}
	var errs []string
	for _, k := range serverBodyFields {
		raw, ok := obj[k]
		if !ok || string(raw) == "null" {
			continue
		}
		field := "body." + k
		var err error
		switch k {
		case "name":
			b.Name, err = decodeString(raw, field)
		case "protocol":
			b.Protocol, err = decodeString(raw, field)
		case "command":
			b.Command, err = decodeString(raw, field)
		case "working_dir":
			b.WorkingDir, err = decodeString(raw, field)
		case "url":
			b.URL, err = decodeString(raw, field)
		case "args":
			b.Args, err = decodeStrings(raw, field)
		case "env":
			b.Env, err = decodeStringMap(raw, field)
		case "headers":
			b.Headers, err = decodeStringMap(raw, field)
		case "enabled":
			var v bool
			if json.Unmarshal(raw, &v) != nil {
				err = fmt.Errorf("%s: want true or false, got %s", field, kind(raw))
			}
			b.Enabled = &v
		case "connect_timeout":
			b.ConnectTimeout, err = decodeDuration(raw, field)
		case "call_timeout":
			b.CallTimeout, err = decodeDuration(raw, field)
		}
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "%s", strings.Join(errs, "; "))
	}
	return b, nil
}

func decodeString(raw json.RawMessage, field string) (*string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%s: want string, got %s", field, kind(raw))
	}
	return &s, nil
}

func decodeStrings(raw json.RawMessage, field string) (*[]string, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, fmt.Errorf("%s: want array of strings, got %s", field, kind(raw))
	}
	out := make([]string, len(elems))
	for i, e := range elems {
		if err := json.Unmarshal(e, &out[i]); err != nil || string(e) == "null" {
			return nil, fmt.Errorf("%s[%d]: want string, got %s", field, i, kind(e))
		}
	}
	return &out, nil
}

var plainKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func decodeStringMap(raw json.RawMessage, field string) (*map[string]string, error) {
	var elems map[string]json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, fmt.Errorf("%s: want object of strings, got %s", field, kind(raw))
	}
	out := make(map[string]string, len(elems))
	for _, k := range slices.Sorted(maps.Keys(elems)) {
		var s string
		if e := elems[k]; json.Unmarshal(e, &s) != nil || string(e) == "null" {
			elem := "." + k
			if !plainKeyRE.MatchString(k) {
				elem = "[" + strconv.Quote(k) + "]"
			}
			return nil, fmt.Errorf("%s%s: want string, got %s", field, elem, kind(e))
		}
		out[k] = s
	}
	return &out, nil
}

func decodeDuration(raw json.RawMessage, field string) (*mcpproxy.Duration, error) {
	var d mcpproxy.Duration
	if err := d.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("%s: %v", field, err)
	}
	return &d, nil
}

// kind names the JSON type of a valid JSON value, for messages.
func kind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}
