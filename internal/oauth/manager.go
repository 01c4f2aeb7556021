package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"
)

// Options configures a Manager.
type Options struct {
	Logger *slog.Logger
	// Publish sends server.auth events (the state view's bus); may be nil.
	Publish func(mcpproxy.Event)
	// OnLogin runs after a login stored its grant, so that the server
	// reconnects with it at once. It must not block.
	OnLogin func(server string)
	// Open is called with every authorization URL a login produces, besides
	// returning it to the caller of StartLogin; tests use it to follow the
	// URL. Nil does nothing.
	Open func(ctx context.Context, authURL string) error
	// LoginTimeout bounds how long a login waits for the redirect; default
	// 10 minutes.
	LoginTimeout time.Duration
	// HTTPClient makes the requests to authorization servers; nil: a
	// client with a 30 s timeout.
	HTTPClient *http.Client
}

// Manager runs logins, stores grants and refreshes tokens for every server.
type Manager struct {
	opts   Options
	log    *slog.Logger
	store  *store
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	grants     map[string]*Grant       // guarded by mu; by server name
	logins     map[string]*login       // guarded by mu: logins in progress
	refreshing map[string]*refreshCall // guarded by mu
	lastError  map[string]string       // guarded by mu: why the last login or refresh failed, or the scope a login must add
	wanted     map[string][]string     // guarded by mu: scopes asked for by a 403 insufficient_scope, for the next login
	closed     bool                    // guarded by mu
}

type login struct {
	cancel context.CancelFunc
	done   chan struct{}
}

type refreshCall struct {
	done chan struct{}
	err  error
}

// Open loads the stored grants from db.
func Open(db mcpproxy.Store, opts Options) (*Manager, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.LoginTimeout <= 0 {
		opts.LoginTimeout = 10 * time.Minute
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	st := &store{db: db}
	grants, err := st.grants()
	if err != nil {
		return nil, fmt.Errorf("oauth store: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		opts: opts, log: opts.Logger, store: st, ctx: ctx, cancel: cancel,
		grants: grants, logins: map[string]*login{}, refreshing: map[string]*refreshCall{}, lastError: map[string]string{},
		wanted: map[string][]string{},
	}, nil
}

// Close cancels logins in progress and waits for them.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	return nil
}

// grantForLocked returns the stored grant of spec's server if it still
// belongs to spec's URL and client, else nil.
func (m *Manager) grantForLocked(spec *mcpproxy.ServerSpec) *Grant {
	g := m.grants[spec.Name]
	if g == nil || !bound(g, spec) {
		return nil
	}
	return g
}

// bound reports whether g was issued for spec as it is configured now: the
// same URL and the same client (configured, or registered by mcpproxy).
func bound(g *Grant, spec *mcpproxy.ServerSpec) bool {
	if g.ServerURL != spec.URL {
		return false
	}
	if spec.OAuth != nil && spec.OAuth.ClientID != "" {
		return !g.Dynamic && g.ClientID == spec.OAuth.ClientID
	}
	return g.Dynamic
}

// AccessToken returns spec's current access token ("" if not logged in)
// and when it should be refreshed (zero: not before a 401). spec has its
// placeholders expanded.
func (m *Manager) AccessToken(spec *mcpproxy.ServerSpec) (string, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.grantForLocked(spec)
	if g == nil {
		return "", time.Time{}
	}
	return g.AccessToken, g.RefreshAt()
}

// Refresh replaces spec's access token using its refresh token, unless the
// token is no longer stale (another caller refreshed it already). An error
// with code EUNAUTHORIZED means only a new login can help.
func (m *Manager) Refresh(ctx context.Context, spec *mcpproxy.ServerSpec, stale string) error {
	name := spec.Name
	m.mu.Lock()
	g := m.grantForLocked(spec)
	switch {
	case g == nil:
		m.mu.Unlock()
		return mcpproxy.Errorf(mcpproxy.EUNAUTHORIZED, "not logged in")
	case stale != "" && g.AccessToken != stale:
		m.mu.Unlock()
		return nil
	case g.RefreshToken == "":
		m.mu.Unlock()
		return mcpproxy.Errorf(mcpproxy.EUNAUTHORIZED, "the access token is no longer accepted and there is no refresh token")
	}
	if c := m.refreshing[name]; c != nil {
		m.mu.Unlock()
		select {
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c := &refreshCall{done: make(chan struct{})}
	m.refreshing[name] = c
	m.mu.Unlock()

	secret := g.ClientSecret
	if !g.Dynamic && spec.OAuth != nil {
		secret = spec.OAuth.ClientSecret
	}
	next, err := m.refresh(ctx, g, secret)
	m.mu.Lock()
	delete(m.refreshing, name)
	current := m.grants[name] == g
	if err == nil && current {
		m.grants[name] = next
		delete(m.lastError, name)
	}
	if err != nil && mcpproxy.ErrorCode(err) == mcpproxy.EUNAUTHORIZED && current {
		m.lastError[name] = mcpproxy.ErrorMessage(err)
	}
	m.mu.Unlock()
	c.err = err
	close(c.done)
	if err != nil {
		m.log.Warn("oauth refresh failed", "server", name, "error", err)
		if mcpproxy.ErrorCode(err) == mcpproxy.EUNAUTHORIZED {
			m.publish(name, "refresh_failed", mcpproxy.ErrorMessage(err))
		}
		return err
	}
	if current {
		if err := m.store.put(bucketGrants, name, next); err != nil {
			m.log.Error("oauth: store refreshed token", "server", name, "error", err)
		}
	}
	m.log.Info("oauth token refreshed", "server", name, "expires", next.Expiry)
	return nil
}

// refresh sends a refresh-token grant to the token endpoint. It is done by
// hand rather than by oauth2.Config because the MCP authorization spec
// wants the resource parameter (RFC 8707) on every token request, and
// oauth2's refresh cannot add one.
func (m *Manager) refresh(ctx context.Context, g *Grant, secret string) (*Grant, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.RefreshToken}}
	if g.Resource != "" {
		form.Set("resource", g.Resource)
	}
	basic := secret != "" && oauth2.AuthStyle(g.AuthStyle) != oauth2.AuthStyleInParams
	if !basic {
		form.Set("client_id", g.ClientID)
		if secret != "" {
			form.Set("client_secret", secret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, mcpproxy.Errorf(mcpproxy.EUNAUTHORIZED, "refresh: bad token endpoint: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		req.SetBasicAuth(url.QueryEscape(g.ClientID), url.QueryEscape(secret))
	}
	resp, err := m.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "refresh: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
		Scope        string `json:"scope"`
		Error        string `json:"error"`
		Description  string `json:"error_description"`
	}
	decodeErr := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
	if resp.StatusCode != http.StatusOK || body.Error != "" || decodeErr != nil || body.AccessToken == "" {
		return nil, fmt.Errorf("refresh: %w", tokenError(resp.StatusCode, body.Error, body.Description))
	}
	now := time.Now().UTC()
	next := *g
	next.AccessToken = body.AccessToken
	next.TokenType = body.TokenType
	if body.RefreshToken != "" {
		next.RefreshToken = body.RefreshToken
	}
	next.Expiry = time.Time{}
	if body.ExpiresIn > 0 {
		next.Expiry = now.Add(time.Duration(body.ExpiresIn) * time.Second)
	}
	next.ObtainedAt = now
	next.LastRefresh = now
	if body.Scope != "" {
		next.Scopes = strings.Fields(body.Scope)
	}
	return &next, nil
}

// retrieveError describes a token endpoint's error answer without its body
// (which oauth2's error text includes): only the OAuth error code and
// description.
func retrieveError(re *oauth2.RetrieveError) error {
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	return tokenError(status, re.ErrorCode, re.ErrorDescription)
}

// tokenError is EUNAVAILABLE for a server failure, else EUNAUTHORIZED: the
// authorization server refused.
func tokenError(status int, code, desc string) error {
	if code == "" {
		code = fmt.Sprintf("HTTP %d", status)
	}
	if desc != "" {
		code += " (" + desc + ")"
	}
	if status >= 500 {
		return mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "the authorization server failed: %s", code)
	}
	return mcpproxy.Errorf(mcpproxy.EUNAUTHORIZED, "refused by the authorization server: %s", code)
}

func (m *Manager) publish(server, event, msg string) {
	if m.opts.Publish != nil {
		m.opts.Publish(mcpproxy.NewEvent(mcpproxy.EventServerAuth, server, map[string]string{"event": event, "message": msg}))
	}
}

// NeedScope records that spec's server refused its token with a 403
// insufficient_scope challenge (wwwAuthenticate: the header's values),
// asking for the scope it names. mcpproxy cannot widen a grant without a
// person: the next login asks for that scope too, and until then the
// server's login status says a login is needed for it. It does not block.
func (m *Manager) NeedScope(spec *mcpproxy.ServerSpec, wwwAuthenticate []string) {
	asked := challengeScopes(wwwAuthenticate)
	if len(asked) == 0 {
		return
	}
	name := spec.Name
	m.mu.Lock()
	g := m.grantForLocked(spec)
	var granted []string
	if g != nil {
		granted = g.Scopes
	}
	want := unionScopes(m.wanted[name], asked)
	var missing []string
	for _, s := range want {
		if !slices.Contains(granted, s) {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 || slices.Equal(want, m.wanted[name]) {
		m.mu.Unlock()
		return
	}
	m.wanted[name] = want
	msg := fmt.Sprintf("the server asked for scope %q, which the login did not grant; log in again with `mcpproxy auth login %s` to ask for it", strings.Join(missing, " "), name)
	m.lastError[name] = msg
	m.mu.Unlock()
	m.log.Warn("oauth: the server wants more scope", "server", name, "scope", strings.Join(missing, " "))
	m.publish(name, "scope_needed", msg)
}

// challengeScopes are the scopes a Bearer challenge names.
func challengeScopes(wwwAuthenticate []string) []string {
	cs, err := oauthex.ParseWWWAuthenticate(wwwAuthenticate)
	if err != nil {
		return nil
	}
	for _, c := range cs {
		if strings.EqualFold(c.Scheme, "bearer") && c.Params["scope"] != "" {
			return strings.Fields(c.Params["scope"])
		}
	}
	return nil
}

// StartLogin starts a login to spec's server (placeholders expanded) and
// returns the authorization URL to send the user to. The login goes on in
// the background until the redirect arrives or LoginTimeout passes; a new
// login to the same server replaces one in progress.
func (m *Manager) StartLogin(ctx context.Context, spec *mcpproxy.ServerSpec) (string, error) {
	if spec.URL == "" || spec.Transport() == mcpproxy.ProtocolStdio {
		return "", mcpproxy.Errorf(mcpproxy.EINVALID, "server %q is not an HTTP server; only HTTP and SSE servers log in with OAuth", spec.Name)
	}
	name := spec.Name
	reg, err := m.store.client(name)
	if err != nil {
		return "", fmt.Errorf("login %s: %w", name, err)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return "", mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "shutting down")
	}
	prev := m.logins[name]
	extra := m.wanted[name]
	lctx, cancel := context.WithTimeout(m.ctx, m.opts.LoginTimeout)
	l := &login{cancel: cancel, done: make(chan struct{})}
	m.logins[name] = l
	m.wg.Add(1)
	m.mu.Unlock()

	urlc := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		defer m.wg.Done()
		defer close(l.done)
		defer cancel()
		if prev != nil {
			// Its listener may hold the redirect port this one needs.
			prev.cancel()
			<-prev.done
		}
		res, err := Login(lctx, LoginConfig{
			ServerURL:   spec.URL,
			Protocol:    spec.Transport(),
			Headers:     spec.Headers,
			OAuth:       spec.OAuth,
			Registered:  reg,
			ExtraScopes: extra,
			HTTPClient:  m.opts.HTTPClient,
			Open: func(ctx context.Context, u string) error {
				urlc <- u
				if m.opts.Open != nil {
					return m.opts.Open(ctx, u)
				}
				return nil
			},
		})
		m.finishLogin(name, l, res, err)
		if err != nil {
			errc <- err
		}
	}()
	select {
	case u := <-urlc:
		return u, nil
	case err := <-errc:
		return "", err
	case <-ctx.Done():
		cancel()
		return "", ctx.Err()
	}
}

func (m *Manager) finishLogin(name string, l *login, res *LoginResult, err error) {
	m.mu.Lock()
	if m.logins[name] == l {
		delete(m.logins, name)
	}
	if err != nil {
		m.lastError[name] = "login: " + mcpproxy.ErrorMessage(err)
		m.mu.Unlock()
		if !errors.Is(err, context.Canceled) {
			m.log.Warn("oauth login failed", "server", name, "error", err)
			m.publish(name, "login_failed", mcpproxy.ErrorMessage(err))
		}
		return
	}
	m.grants[name] = res.Grant
	delete(m.lastError, name)
	delete(m.wanted, name)
	m.mu.Unlock()
	if res.Client != nil {
		if err := m.store.put(bucketClients, name, res.Client); err != nil {
			m.log.Error("oauth: store registered client", "server", name, "error", err)
		}
	}
	if err := m.store.put(bucketGrants, name, res.Grant); err != nil {
		m.log.Error("oauth: store token", "server", name, "error", err)
	}
	m.log.Info("oauth login completed", "server", name, "scopes", strings.Join(res.Grant.Scopes, " "), "expires", res.Grant.Expiry)
	m.publish(name, "login_succeeded", "logged in")
	if m.opts.OnLogin != nil {
		m.opts.OnLogin(name)
	}
}

// Logout forgets the server's grant and dynamically registered client, and
// cancels a login in progress.
func (m *Manager) Logout(name string) error {
	had, err := m.forget(name)
	if err != nil {
		return fmt.Errorf("logout %s: %w", name, err)
	}
	if had {
		m.log.Info("oauth logout", "server", name)
		m.publish(name, "logged_out", "logged out")
	}
	return nil
}

// Forget drops what is kept for a server that was removed, as Logout does,
// without announcing it.
func (m *Manager) Forget(name string) error {
	if _, err := m.forget(name); err != nil {
		return fmt.Errorf("forget %s: %w", name, err)
	}
	return nil
}

// Prune forgets every server for which keep is false: servers removed from
// the config while mcpproxy was not running.
func (m *Manager) Prune(keep func(name string) bool) error {
	names, err := m.store.names()
	if err != nil {
		return fmt.Errorf("oauth prune: %w", err)
	}
	for _, name := range names {
		if !keep(name) {
			if err := m.Forget(name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *Manager) forget(name string) (had bool, err error) {
	m.mu.Lock()
	_, had = m.grants[name]
	delete(m.grants, name)
	delete(m.lastError, name)
	delete(m.wanted, name)
	if l := m.logins[name]; l != nil {
		l.cancel()
	}
	m.mu.Unlock()
	if err := m.store.del(bucketGrants, name); err != nil {
		return had, err
	}
	return had, m.store.del(bucketClients, name)
}

// Status reports spec's login state.
func (m *Manager) Status(spec *mcpproxy.ServerSpec) mcpproxy.AuthStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := mcpproxy.AuthStatus{Server: spec.Name, LastError: m.lastError[spec.Name]}
	_, st.LoginPending = m.logins[spec.Name]
	g := m.grantForLocked(spec)
	if g == nil {
		return st
	}
	st.LoggedIn = true
	// Sorted: the order a grant lists them in depends on how the login
	// gathered them, which is not something to show.
	st.Scopes = slices.Sorted(slices.Values(g.Scopes))
	st.Refreshable = g.RefreshToken != ""
	st.Client = "configured"
	if g.Dynamic {
		st.Client = "registered"
	}
	st.ObtainedAt = timePtr(g.ObtainedAt)
	st.ExpiresAt = timePtr(g.Expiry)
	st.LastRefresh = timePtr(g.LastRefresh)
	return st
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
