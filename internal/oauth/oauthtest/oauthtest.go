// Package oauthtest is a small OAuth 2.1 authorization server for tests,
// with an MCP server behind it that requires its tokens. The authorization
// endpoint needs no human: it redirects at once with a code, so a test
// completes a login by following the authorization URL with an HTTP client.
//
// Both servers listen on 127.0.0.1 and are stopped by Close (registered as
// a test cleanup by New).
package oauthtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/oauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Options tunes a Server.
type Options struct {
	// AccessTTL is the lifetime of access tokens; default 1 hour.
	AccessTTL time.Duration
	// Scopes the protected resource advertises; default ["mcp.read"].
	Scopes []string
	// NoRefreshTokens: issue access tokens only.
	NoRefreshTokens bool
	// NoRegistration: no dynamic client registration endpoint.
	NoRegistration bool
	// BasicAuthOnly: confidential clients must authenticate with HTTP
	// Basic (client_secret_basic); a secret in the form is refused.
	BasicAuthOnly bool
}

// Server is an authorization server (AS) plus a protected MCP server.
type Server struct {
	opts Options
	as   *httptest.Server
	rs   *httptest.Server
	mcp  *mcp.StreamableHTTPHandler
	sse  *mcp.SSEHandler

	mu        sync.Mutex
	clients   map[string]*client     // guarded by mu; by client_id
	codes     map[string]*codeGrant  // guarded by mu
	access    map[string]accessToken // guarded by mu
	refresh   map[string]*refreshTok // guarded by mu
	secrets   []string               // guarded by mu: every credential issued
	refreshes int                    // guarded by mu: successful refresh grants
	resources []string               // guarded by mu: resource params seen at /authorize and /token
	calls     int                    // guarded by mu: tool calls served
	rejected  int                    // guarded by mu: requests refused for a bad or expired token
}

type client struct {
	id, secret   string
	redirectURIs []string
}

type codeGrant struct {
	clientID, redirectURI, challenge, resource, scope string
}

type accessToken struct {
	clientID string
	expires  time.Time
}

type refreshTok struct {
	clientID, scope string
	revoked         bool
}

// New starts both servers; tb.Cleanup closes them.
func New(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.AccessTTL <= 0 {
		opts.AccessTTL = time.Hour
	}
	if opts.Scopes == nil {
		opts.Scopes = []string{"mcp.read"}
	}
	s := &Server{
		opts:    opts,
		clients: map[string]*client{},
		codes:   map[string]*codeGrant{},
		access:  map[string]accessToken{},
		refresh: map[string]*refreshTok{},
	}
	// Unstarted first: the handlers read the servers' URLs, which must be
	// set before the first request.
	s.as = httptest.NewUnstartedServer(s.asHandler())
	s.as.Start()
	srv := mcp.NewServer(&mcp.Implementation{Name: "oauth-protected", Version: "1"}, nil)
	srv.AddTool(&mcp.Tool{Name: "whoami", Description: "says hello to the caller", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			s.mu.Lock()
			s.calls++
			s.mu.Unlock()
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello, authorized client"}}}, nil
		})
	s.mcp = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	s.sse = mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	s.rs = httptest.NewUnstartedServer(s.rsHandler())
	s.rs.Start()
	tb.Cleanup(s.Close)
	return s
}

// Close stops both servers.
func (s *Server) Close() {
	s.rs.CloseClientConnections()
	s.rs.Close()
	s.as.Close()
}

// URL is the protected MCP endpoint (streamable HTTP).
func (s *Server) URL() string { return s.rs.URL + "/mcp" }

// SSEURL is the same server's protected legacy SSE endpoint.
func (s *Server) SSEURL() string { return s.rs.URL + "/sse" }

// Issuer is the authorization server's URL.
func (s *Server) Issuer() string { return s.as.URL }

// AddClient pre-registers a client (as a person would by hand).
func (s *Server) AddClient(id, secret string, redirectURIs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[id] = &client{id: id, secret: secret, redirectURIs: redirectURIs}
	if secret != "" {
		s.secrets = append(s.secrets, secret)
	}
}

// Refreshes counts refresh-token grants served.
func (s *Server) Refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// Calls counts tool calls the MCP server served.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Rejected counts requests to the MCP server refused because their bearer
// token was unknown or expired (not those without a token).
func (s *Server) Rejected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected
}

// Resources lists the resource parameters (RFC 8707) seen at /authorize
// and /token, in order.
func (s *Server) Resources() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.resources)
}

// Clients counts registered clients (dynamic and by hand).
func (s *Server) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// Secrets returns every credential the server issued or was given:
// client secrets, codes, access and refresh tokens. Tests grep output for
// them.
func (s *Server) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.secrets)
}

// RevokeRefreshTokens revokes every refresh token issued so far.
func (s *Server) RevokeRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.refresh {
		r.revoked = true
	}
}

// ExpireAccessTokens makes every access token issued so far invalid.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, a := range s.access {
		a.expires = time.Time{}
		s.access[k] = a
	}
}

// Follow completes a login without a human: it GETs the authorization URL
// and follows the redirect to the client's loopback listener.
func Follow(ctx context.Context, authURL string) error { return oauth.Follow(ctx, authURL) }

func (s *Server) newSecret(prefix string) string {
	v := prefix + rand.Text()
	s.secrets = append(s.secrets, v)
	return v
}

func (s *Server) rsHandler() http.Handler {
	m := http.NewServeMux()
	for _, path := range []string{"/mcp", "/sse"} {
		m.HandleFunc("GET /.well-known/oauth-protected-resource"+path, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{
				"resource":                 s.rs.URL + path,
				"authorization_servers":    []string{s.as.URL},
				"scopes_supported":         s.opts.Scopes,
				"bearer_methods_supported": []string{"header"},
			})
		})
		m.Handle(path, s.protect(path))
	}
	return m
}

// protect serves the MCP endpoint at path to requests with a valid token
// and answers the others 401 with a challenge naming the metadata.
func (s *Server) protect(path string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		a, known := s.access[tok]
		bad := !ok || !known || time.Now().After(a.expires)
		if bad && ok {
			s.rejected++
		}
		s.mu.Unlock()
		if bad {
			challenge := fmt.Sprintf(`Bearer resource_metadata=%q, scope=%q`,
				s.rs.URL+"/.well-known/oauth-protected-resource"+path, strings.Join(s.opts.Scopes, " "))
			if ok {
				challenge += `, error="invalid_token"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if path == "/sse" {
			s.sse.ServeHTTP(w, r)
			return
		}
		s.mcp.ServeHTTP(w, r)
	})
}

func (s *Server) asHandler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		meta := map[string]any{
			"issuer":                                s.as.URL,
			"authorization_endpoint":                s.as.URL + "/authorize",
			"token_endpoint":                        s.as.URL + "/token",
			"response_types_supported":              []string{"code"},
			"grant_types_supported":                 []string{"authorization_code", "refresh_token"},
			"code_challenge_methods_supported":      []string{"S256"},
			"token_endpoint_auth_methods_supported": []string{"none", "client_secret_post", "client_secret_basic"},
			"scopes_supported":                      append(slices.Clone(s.opts.Scopes), "offline_access"),
		}
		if !s.opts.NoRegistration {
			meta["registration_endpoint"] = s.as.URL + "/register"
		}
		if s.opts.BasicAuthOnly {
			meta["token_endpoint_auth_methods_supported"] = []string{"none", "client_secret_basic"}
		}
		writeJSON(w, http.StatusOK, meta)
	})
	m.HandleFunc("POST /register", s.register)
	m.HandleFunc("GET /authorize", s.authorize)
	m.HandleFunc("POST /token", s.token)
	return m
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	if s.opts.NoRegistration {
		http.NotFound(w, r)
		return
	}
	var md struct {
		RedirectURIs []string `json:"redirect_uris"`
		AuthMethod   string   `json:"token_endpoint_auth_method"`
	}
	if err := json.NewDecoder(r.Body).Decode(&md); err != nil || len(md.RedirectURIs) == 0 {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "redirect_uris required")
		return
	}
	s.mu.Lock()
	c := &client{id: "client-" + rand.Text()[:10], redirectURIs: md.RedirectURIs}
	if md.AuthMethod != "none" {
		c.secret = s.newSecret("cs-")
	}
	s.clients[c.id] = c
	s.mu.Unlock()
	resp := map[string]any{"client_id": c.id, "redirect_uris": c.redirectURIs, "token_endpoint_auth_method": "none"}
	if c.secret != "" {
		resp["client_secret"] = c.secret
		resp["token_endpoint_auth_method"] = "client_secret_post"
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clients[q.Get("client_id")]
	switch {
	case c == nil:
		http.Error(w, "unknown client", http.StatusBadRequest)
		return
	case !slices.Contains(c.redirectURIs, q.Get("redirect_uri")):
		http.Error(w, "redirect_uri not registered", http.StatusBadRequest)
		return
	}
	redirect, _ := url.Parse(q.Get("redirect_uri"))
	rq := url.Values{}
	rq.Set("state", q.Get("state"))
	switch {
	case q.Get("response_type") != "code":
		rq.Set("error", "unsupported_response_type")
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		rq.Set("error", "invalid_request")
		rq.Set("error_description", "PKCE S256 required")
	default:
		code := s.newSecret("code-")
		s.codes[code] = &codeGrant{clientID: c.id, redirectURI: q.Get("redirect_uri"),
			challenge: q.Get("code_challenge"), resource: q.Get("resource"), scope: q.Get("scope")}
		s.resources = append(s.resources, q.Get("resource"))
		rq.Set("code", code)
	}
	redirect.RawQuery = rq.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// authClient checks the client's credentials (post or basic).
func (s *Server) authClientLocked(r *http.Request) *client {
	id, secret, basic := r.BasicAuth()
	if !basic && s.opts.BasicAuthOnly && r.PostForm.Get("client_secret") != "" {
		return nil
	}
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	} else {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	}
	c := s.clients[id]
	if c == nil || c.secret != secret {
		return nil
	}
	return c
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	f := r.PostForm
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.authClientLocked(r)
	if c == nil {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	s.resources = append(s.resources, f.Get("resource"))
	var scope string
	switch f.Get("grant_type") {
	case "authorization_code":
		g := s.codes[f.Get("code")]
		delete(s.codes, f.Get("code")) // single use
		if g == nil || g.clientID != c.id || g.redirectURI != f.Get("redirect_uri") {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown code")
			return
		}
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
			return
		}
		scope = g.scope
	case "refresh_token":
		rt := s.refresh[f.Get("refresh_token")]
		if rt == nil || rt.revoked || rt.clientID != c.id {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "refresh token revoked or unknown")
			return
		}
		scope = rt.scope
		s.refreshes++
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", f.Get("grant_type"))
		return
	}
	at := s.newSecret("at-")
	s.access[at] = accessToken{clientID: c.id, expires: time.Now().Add(s.opts.AccessTTL)}
	resp := map[string]any{
		"access_token": at,
		"token_type":   "Bearer",
		"expires_in":   int(s.opts.AccessTTL.Round(time.Second) / time.Second),
		"scope":        scope,
	}
	if !s.opts.NoRefreshTokens {
		if f.Get("grant_type") == "refresh_token" {
			// Rotate: the old refresh token is spent.
			s.refresh[f.Get("refresh_token")].revoked = true
		}
		rt := s.newSecret("rt-")
		s.refresh[rt] = &refreshTok{clientID: c.id, scope: scope}
		resp["refresh_token"] = rt
	}
	writeJSON(w, http.StatusOK, resp)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
