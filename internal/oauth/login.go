package oauth

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"
)

// CallbackPath is the path of the loopback redirect URI.
const CallbackPath = "/callback"

// LoginConfig is one login to one server.
type LoginConfig struct {
	// ServerURL is the MCP endpoint (placeholders expanded).
	ServerURL string
	// Protocol decides how the server is asked whether it wants a login:
	// a GET for SSE, else a POST of an initialize request.
	Protocol mcpproxy.Protocol
	// Headers are sent with that first request (the server's own headers).
	Headers map[string]string
	// OAuth is the server's configuration (client secret expanded); nil
	// registers a client dynamically and asks for the advertised scopes.
	OAuth *mcpproxy.OAuthSpec
	// Registered is a client registered dynamically by an earlier login to
	// this URL; it is reused when its redirect URI can be served again.
	Registered *Client
	// HTTPClient makes the discovery, registration and token requests;
	// nil uses a client with a 30 s timeout.
	HTTPClient *http.Client
	// Open sends the user (or a program) to the authorization URL. It may
	// return at once: Login then waits for the redirect to the loopback
	// listener, until ctx ends.
	Open func(ctx context.Context, authURL string) error
	// ExtraScopes are asked for besides the configured or discovered
	// ones: what the server asked for in a 403 insufficient_scope.
	ExtraScopes []string
	// Challenge, if set, is the server's answer that asked for this login
	// (a 401, or a 403 insufficient_scope asking for more scope); Login
	// starts from it instead of asking the server with a request of its
	// own. A server may accept initialize without a token and challenge
	// only later requests.
	Challenge *Challenge
}

// Challenge is an HTTP answer that asks for authorization: its status and
// its WWW-Authenticate header values.
type Challenge struct {
	Status          int
	WWWAuthenticate []string
}

// LoginResult is what a completed login yields.
type LoginResult struct {
	Grant *Grant
	// Client is the dynamically registered client used (new or reused);
	// nil when the config names a client.
	Client *Client
}

// Login runs the authorization-code flow with PKCE against the server at
// cfg.ServerURL, with a redirect listener on 127.0.0.1 that lives as long
// as the call.
func Login(ctx context.Context, cfg LoginConfig) (*LoginResult, error) {
	if cfg.Open == nil {
		return nil, errors.New("login: no way to open the authorization URL")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	o := cfg.OAuth
	if o == nil {
		o = &mcpproxy.OAuthSpec{}
	}

	// The listener comes first: a dynamically registered client is bound
	// to its redirect URI, port included.
	reg := cfg.Registered
	if o.ClientID != "" || (reg != nil && reg.ServerURL != cfg.ServerURL) {
		reg = nil
	}
	port := o.RedirectPort
	if port == 0 && reg != nil {
		port = redirectPort(reg.RedirectURI)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil && o.RedirectPort == 0 && port != 0 {
		// The registered client's port is taken: register a new client.
		reg = nil
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, fmt.Errorf("login: redirect listener: %w", err)
	}
	redirect := fmt.Sprintf("http://127.0.0.1:%d%s", ln.Addr().(*net.TCPAddr).Port, CallbackPath)
	if reg != nil && reg.RedirectURI != redirect {
		reg = nil
	}
	cb := newCallback()
	srv := &http.Server{Handler: cb, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	defer func() {
		// Shutdown lets the callback's answer reach the browser: the login
		// can finish while that handler is still writing it, and Close
		// alone would cut the connection (the browser saw EOF).
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		srv.Shutdown(sctx)
		cancel()
		srv.Close()
		<-served
	}()

	var (
		issued    *oauth2.Token
		issuedCfg *oauth2.Config
		resource  string // the RFC 8707 resource the SDK asked for
	)
	hcfg := &auth.AuthorizationCodeHandlerConfig{
		RedirectURL:           redirect,
		Client:                hc,
		RequestRefreshToken:   true,
		AcceptUnadvertisedIss: true,
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			if u, err := url.Parse(args.URL); err == nil {
				resource = u.Query().Get("resource")
			}
			if err := cfg.Open(ctx, args.URL); err != nil {
				return nil, fmt.Errorf("open the authorization URL: %w", err)
			}
			select {
			case r := <-cb.result:
				if r.err != nil {
					return nil, r.err
				}
				return &auth.AuthorizationResult{Code: r.code, State: r.state, Iss: r.iss}, nil
			case <-ctx.Done():
				return nil, fmt.Errorf("waiting for the authorization server's redirect: %w", ctx.Err())
			}
		},
		NewTokenSource: func(ctx context.Context, c *oauth2.Config, tok *oauth2.Token) (oauth2.TokenSource, error) {
			issuedCfg, issued = c, tok
			return oauth2.StaticTokenSource(tok), nil
		},
	}
	if len(o.Scopes) > 0 || len(cfg.ExtraScopes) > 0 {
		configured, extra := o.Scopes, cfg.ExtraScopes
		hcfg.ScopeFilter = func(discovered []string) []string {
			base := configured
			if len(base) == 0 {
				base = discovered
			}
			return unionScopes(base, extra)
		}
	}
	switch {
	case o.ClientID != "":
		pc := &oauthex.ClientCredentials{ClientID: o.ClientID}
		if o.ClientSecret != "" {
			pc.ClientSecretAuth = &oauthex.ClientSecretAuth{ClientSecret: o.ClientSecret}
		}
		hcfg.PreregisteredClient = pc
	case reg != nil:
		pc := &oauthex.ClientCredentials{ClientID: reg.ClientID}
		if reg.ClientSecret != "" {
			pc.ClientSecretAuth = &oauthex.ClientSecretAuth{ClientSecret: reg.ClientSecret}
		}
		hcfg.PreregisteredClient = pc
	default:
		hcfg.DynamicClientRegistrationConfig = &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{
				ClientName:              "mcpproxy",
				RedirectURIs:            []string{redirect},
				GrantTypes:              []string{"authorization_code", "refresh_token"},
				ResponseTypes:           []string{"code"},
				TokenEndpointAuthMethod: "none",
				Scope:                   strings.Join(o.Scopes, " "),
			},
		}
	}
	h, err := auth.NewAuthorizationCodeHandler(hcfg)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	var req *http.Request
	var resp *http.Response
	if cfg.Challenge != nil {
		req, resp, err = challenged(ctx, &cfg)
	} else {
		req, resp, err = probe(ctx, hc, &cfg)
	}
	if err != nil {
		return nil, err
	}
	if err := h.Authorize(ctx, req, resp); err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			// Its text carries the response body; keep the OAuth error only.
			return nil, fmt.Errorf("login: token exchange: %w", retrieveError(re))
		}
		return nil, fmt.Errorf("login: %w", compactError{err})
	}
	if issued == nil || issued.AccessToken == "" {
		return nil, errors.New("login: the authorization server issued no access token")
	}
	now := time.Now().UTC()
	g := &Grant{
		ServerURL:    cfg.ServerURL,
		Dynamic:      o.ClientID == "",
		ClientID:     issuedCfg.ClientID,
		TokenURL:     issuedCfg.Endpoint.TokenURL,
		AuthStyle:    int(issuedCfg.Endpoint.AuthStyle),
		Resource:     resource,
		Scopes:       grantedScopes(issued, issuedCfg.Scopes),
		AccessToken:  issued.AccessToken,
		TokenType:    issued.TokenType,
		RefreshToken: issued.RefreshToken,
		Expiry:       expiry(issued, now),
		ObtainedAt:   now,
	}
	res := &LoginResult{Grant: g}
	if g.Dynamic {
		g.ClientSecret = issuedCfg.ClientSecret
		res.Client = &Client{ServerURL: cfg.ServerURL, ClientID: issuedCfg.ClientID, ClientSecret: issuedCfg.ClientSecret, RedirectURI: redirect}
	}
	return res, nil
}

// probe asks the server, without a token, for what it wants. A 401 is
// handed to the SDK's handler, which reads the challenge's
// resource_metadata (or falls back to the well-known locations).
func probe(ctx context.Context, hc *http.Client, cfg *LoginConfig) (*http.Request, *http.Response, error) {
	var req *http.Request
	var err error
	if cfg.Protocol == mcpproxy.ProtocolSSE {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, cfg.ServerURL, nil)
		if err == nil {
			req.Header.Set("Accept", "text/event-stream")
		}
	} else {
		body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcpproxy","version":"login"}}}`
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, cfg.ServerURL, strings.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("login: %w", err)
	}
	for k, v := range cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("login: reach the server: %w", err)
	}
	if resp.StatusCode != http.StatusUnauthorized {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		return nil, nil, mcpproxy.Errorf(mcpproxy.ECONFLICT, "login: the server did not ask for authorization (HTTP %d without a token); there is nothing to log in to", resp.StatusCode)
	}
	return req, resp, nil
}

// challenged stands the challenge in for the server's answer to a
// request for its URL.
func challenged(ctx context.Context, cfg *LoginConfig) (*http.Request, *http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.ServerURL, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("login: %w", err)
	}
	c := cfg.Challenge
	if c.Status != http.StatusUnauthorized && c.Status != http.StatusForbidden {
		return nil, nil, mcpproxy.Errorf(mcpproxy.EINVALID, "login: challenge status %d: want 401 or 403", c.Status)
	}
	resp := &http.Response{
		StatusCode: c.Status,
		Header:     http.Header{"Www-Authenticate": c.WWWAuthenticate},
		Body:       io.NopCloser(strings.NewReader("")),
		Request:    req,
	}
	return req, resp, nil
}

// unionScopes is a followed by the scopes of b that a lacks.
func unionScopes(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func grantedScopes(t *oauth2.Token, requested []string) []string {
	if s, ok := t.Extra("scope").(string); ok && s != "" {
		return strings.Fields(s)
	}
	return requested
}

// expiry is the token's expiry, or zero when the server gave none.
func expiry(t *oauth2.Token, now time.Time) time.Time {
	if t.ExpiresIn > 0 {
		return now.Add(time.Duration(t.ExpiresIn) * time.Second)
	}
	return t.Expiry.UTC()
}

func redirectPort(uri string) int {
	u, err := url.Parse(uri)
	if err != nil || u.Hostname() != "127.0.0.1" {
		return 0
	}
	p, _ := strconv.Atoi(u.Port())
	return p
}

// compactError shows an error on one line of at most 300 runes and keeps
// its chain: the SDK's discovery and registration errors quote whole
// response bodies (HTML pages), which would otherwise fill the server's
// last_error.
type compactError struct{ err error }

func (e compactError) Error() string {
	s := strings.Join(strings.Fields(e.err.Error()), " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:299]) + "…"
	}
	return s
}

func (e compactError) Unwrap() error { return e.err }

// callback serves the loopback redirect and passes the first answer on.
type callback struct {
	result chan callbackResult
}

type callbackResult struct {
	code, state, iss string
	err              error
}

func newCallback() *callback { return &callback{result: make(chan callbackResult, 1)} }

func (c *callback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != CallbackPath {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	res := callbackResult{code: q.Get("code"), state: q.Get("state"), iss: q.Get("iss")}
	switch {
	case q.Get("error") != "":
		// The error code and description come from the authorization
		// server; neither is a credential.
		msg := q.Get("error")
		if d := q.Get("error_description"); d != "" {
			msg += ": " + d
		}
		res.err = mcpproxy.Errorf(mcpproxy.EUNAUTHORIZED, "the authorization server refused: %s", msg)
	case res.code == "":
		http.Error(w, "missing code", http.StatusBadRequest)
		return
	}
	select {
	case c.result <- res:
	default:
		http.Error(w, "this login has already been answered", http.StatusConflict)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if res.err != nil {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "<!doctype html><title>mcpproxy</title><p>Login failed: %s</p>", html.EscapeString(res.err.Error()))
		return
	}
	fmt.Fprint(w, "<!doctype html><title>mcpproxy</title><p>Logged in. You can close this tab and return to mcpproxy.</p>")
}
