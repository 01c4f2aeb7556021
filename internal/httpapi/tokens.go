package httpapi

import (
	"net/http"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/token"
)

// TokenAdmin creates, lists and revokes agent tokens; *token.Tokens
// implements it. Only a person with the API key reaches it: an agent token
// is never accepted on /api/v1.
type TokenAdmin interface {
	Create(spec token.Spec) (token.Created, error)
	List() []token.Info
	Revoke(name string) error
}

func (a *API) tokenRoutes(m *http.ServeMux) {
	m.Handle("GET /api/v1/tokens", a.auth(a.tokenList))
	m.Handle("POST /api/v1/tokens", a.auth(a.tokenCreate))
	m.Handle("DELETE /api/v1/tokens/{name}", a.auth(a.tokenRevoke))
}

func (a *API) tokens() (TokenAdmin, error) {
	if a.opts.Tokens == nil {
		return nil, mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "agent tokens are not available in this mode")
	}
	return a.opts.Tokens, nil
}

func (a *API) tokenList(w http.ResponseWriter, r *http.Request) error {
	t, err := a.tokens()
	if err != nil {
		return err
	}
	writeOK(w, http.StatusOK, t.List())
	return nil
}

// tokenCreate serves POST /api/v1/tokens: the answer holds the secret,
// which no other answer ever shows again.
func (a *API) tokenCreate(w http.ResponseWriter, r *http.Request) error {
	t, err := a.tokens()
	if err != nil {
		return err
	}
	var spec token.Spec
	if err := decodeBody(w, r, &spec); err != nil {
		return err
	}
	created, err := t.Create(spec)
	if err != nil {
		return err
	}
	writeOK(w, http.StatusCreated, created)
	return nil
}

func (a *API) tokenRevoke(w http.ResponseWriter, r *http.Request) error {
	t, err := a.tokens()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := t.Revoke(name); err != nil {
		return err
	}
	writeOK(w, http.StatusOK, apiv1.RevokedToken{Token: name, Revoked: true})
	return nil
}
