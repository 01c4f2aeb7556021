package httpapi

import (
	"context"
	"net/http"
	"os"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/secret"
)

// Authenticator runs OAuth logins to HTTP upstreams (see package oauth).
// Specs passed to it have their placeholders expanded.
type Authenticator interface {
	StartLogin(ctx context.Context, spec *mcpproxy.ServerSpec) (string, error)
	Status(spec *mcpproxy.ServerSpec) mcpproxy.AuthStatus
	Logout(name string) error
}

func (a *API) authRoutes(m *http.ServeMux) {
	m.Handle("GET /api/v1/auth", a.auth(a.authList))
	m.Handle("GET /api/v1/servers/{name}/auth", a.auth(a.authStatus))
	m.Handle("POST /api/v1/servers/{name}/login", a.auth(a.login))
	m.Handle("POST /api/v1/servers/{name}/logout", a.auth(a.logout))
}

// oauthSpec returns the named HTTP server's spec with its placeholders
// expanded.
func (a *API) oauthSpec(name string) (*mcpproxy.ServerSpec, error) {
	if a.opts.Auth == nil {
		return nil, mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "OAuth is not available")
	}
	spec, ok := a.b.Config().Server(name)
	if !ok {
		return nil, mcpproxy.Errorf(mcpproxy.ENOTFOUND, "server %q not found", name)
	}
	if spec.URL == "" || spec.Transport() == mcpproxy.ProtocolStdio {
		return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "server %q is a stdio server; only HTTP and SSE servers log in with OAuth", name)
	}
	expanded, _, err := secret.ExpandSpec(*spec, os.LookupEnv)
	if err != nil {
		return nil, mcpproxy.Flatten(err)
	}
	return &expanded, nil
}

// login serves POST /api/v1/servers/{name}/login: it starts the flow and
// answers with the URL to open; the daemon's loopback listener completes
// it and the server reconnects with the token.
func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	spec, err := a.oauthSpec(name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	u, err := a.opts.Auth.StartLogin(ctx, spec)
	if err != nil {
		return err
	}
	writeOK(w, http.StatusOK, apiv1.LoginStarted{Server: name, AuthorizationURL: u})
	return nil
}

// authStatus serves GET /api/v1/servers/{name}/auth.
func (a *API) authStatus(w http.ResponseWriter, r *http.Request) error {
	spec, err := a.oauthSpec(r.PathValue("name"))
	if err != nil {
		return err
	}
	writeOK(w, http.StatusOK, a.opts.Auth.Status(spec))
	return nil
}

// authList serves GET /api/v1/auth: the login state of every HTTP server.
func (a *API) authList(w http.ResponseWriter, r *http.Request) error {
	if a.opts.Auth == nil {
		return mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "OAuth is not available")
	}
	out := []mcpproxy.AuthStatus{}
	for _, s := range a.b.Config().Servers {
		if s.URL == "" || s.Transport() == mcpproxy.ProtocolStdio {
			continue
		}
		spec, err := a.oauthSpec(s.Name)
		if err != nil {
			out = append(out, mcpproxy.AuthStatus{Server: s.Name, LastError: mcpproxy.ErrorMessage(err)})
			continue
		}
		out = append(out, a.opts.Auth.Status(spec))
	}
	writeOK(w, http.StatusOK, out)
	return nil
}

// logout serves POST /api/v1/servers/{name}/logout: the tokens are
// forgotten and the server reconnects without them.
func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if _, err := a.oauthSpec(name); err != nil {
		return err
	}
	if err := a.opts.Auth.Logout(name); err != nil {
		return err
	}
	// A disabled server has nothing to reconnect.
	_ = a.b.Restart(name)
	writeOK(w, http.StatusOK, apiv1.LoggedOut{Server: name, LoggedOut: true})
	return nil
}
