package httpapi

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
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
// server a person adds is trusted as written, unless it says quarantined
// or the config sets quarantine_new_servers.
func (a *API) addServer(w http.ResponseWriter, r *http.Request) error {
	in, err := readServerBody(w, r)
	if err != nil {
		return err
	}
	spec := mcpproxy.ServerSpec{Enabled: true}
	in.Apply(&spec)
	if err := config.ValidateServer(&spec, "body"); err != nil {
		return mcpproxy.Flatten(err)
	}
	spec.Quarantined = spec.Quarantined || a.b.Config().QuarantineNewServers
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
		return mcpproxy.Flatten(err)
	}
	w.Header().Set("Location", "/api/v1/servers/"+url.PathEscape(stored.Name))
	writeOK(w, http.StatusCreated, stored.Masked())
	return nil
}

// entrySettings are the fields of an entry that PATCH sets one by one,
// outside the connection UpdateServer replaces.
var entrySettings = []string{"enabled", "quarantined", "auto_approve_tool_changes", "oauth"}

// updateServer serves PATCH /api/v1/servers/{name}: the fields present in
// the body replace the entry's, the others keep what the file holds when
// the edit runs. A person's change is trusted: it does not quarantine.
// It may quarantine the server, but not approve it: that takes the
// fingerprint of the reviewed spec (…/unquarantine).
func (a *API) updateServer(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	in, err := readServerBody(w, r)
	if err != nil {
		return err
	}
	if in.Has("name") && in.Spec.Name != name {
		return mcpproxy.Errorf(mcpproxy.EINVALID, "body.name: %q is not the server in the path (%q); servers cannot be renamed", in.Spec.Name, name)
	}
	if set := in.Set(); len(set) == 0 || slices.Equal(set, []string{"name"}) {
		return mcpproxy.Errorf(mcpproxy.EINVALID, "body: no field to change; pass any of %s", strings.Join(config.PersonFields[1:], ", "))
	}
	var stored mcpproxy.ServerSpec
	err = a.b.Edit(r.Context(), func(d *config.Document) error {
		spec, err := d.Server(name)
		if err != nil {
			return err
		}
		if in.Has("quarantined") && !in.Spec.Quarantined && spec.Quarantined {
			return mcpproxy.Errorf(mcpproxy.EINVALID, "body.quarantined: false would approve the server unreviewed; approve it with POST /api/v1/servers/%s/unquarantine and the fingerprint you reviewed", url.PathEscape(name))
		}
		in.Apply(&spec)
		if err := config.ValidateServer(&spec, "body"); err != nil {
			return err
		}
		if err := d.UpdateServer(spec); err != nil {
			return err
		}
		for _, f := range entrySettings {
			if !in.Has(f) {
				continue
			}
			var v any
			switch f {
			case "enabled":
				v = spec.Enabled
			case "quarantined":
				v = spec.Quarantined
			case "auto_approve_tool_changes":
				v = spec.AutoApproveToolChanges
			case "oauth":
				v = spec.OAuth
			}
			if err := d.SetServerField(name, f, v); err != nil {
				return err
			}
		}
		stored, err = d.Server(name)
		return err
	})
	if err != nil {
		return mcpproxy.Flatten(err)
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
	writeOK(w, http.StatusOK, apiv1.Removed{Server: name, Removed: true})
	return nil
}

// readServerBody reads at most maxBodyBytes of the request body and decodes
// it as a config entry of the fields a person may set.
func readServerBody(w http.ResponseWriter, r *http.Request) (*config.ServerInput, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, mcpproxy.Errorf(mcpproxy.ETOOLARGE, "body: larger than %d bytes; a server entry is a small JSON object", tooLarge.Limit)
		}
		return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "body: %v", err)
	}
	in, err := config.DecodeServerInput(data, config.InputOptions{Field: "body", Allowed: config.PersonFields})
	if err != nil {
		return nil, mcpproxy.Flatten(err)
	}
	return in, nil
}
