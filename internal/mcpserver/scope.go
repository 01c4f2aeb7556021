package mcpserver

import (
	"bytes"
	"context"
	"net/http"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/httpauth"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/token"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// An MCP client comes in one of three ways: with an agent token (scoped:
// see package token), with the API key, or (on a loopback listen address
// without require_mcp_auth) with no credential at all. The last two are
// unrestricted. A credential that is presented and is neither the API key
// nor a valid token is refused with 401, never taken as no credential.
//
// The caller's token rides in the request context. The SDK connects a
// session with the context of the request that created it and hands its
// values to every handler of the session, so a session keeps the scope of
// its creator; and each request also carries its caller as the SDK's
// TokenInfo.UserID, with which the SDK refuses a request of a session
// created by another identity (so a token cannot borrow an API-key session,
// nor another token's). Every request is authenticated again, so a revoked
// or expired token stops working at its next request.

// TokenVerifier checks agent tokens; *token.Tokens implements it.
type TokenVerifier interface {
	Verify(secret string) (*token.Token, error)
}

type callerKey struct{}

// callerToken returns the agent token of the request or session ctx
// belongs to; nil when the caller is unrestricted.
func callerToken(ctx context.Context) *token.Token {
	t, _ := ctx.Value(callerKey{}).(*token.Token)
	return t
}

// identity names a caller for the SDK's session check and for the fast
// path: "" for a keyless client, "apikey", or "token:NAME".
func identity(tok *token.Token, apiKey bool) string {
	switch {
	case tok != nil:
		return "token:" + tok.Name
	case apiKey:
		return "apikey"
	}
	return ""
}

type identityKey struct{}

func identityOf(ctx context.Context) string {
	s, _ := ctx.Value(identityKey{}).(string)
	return s
}

// authenticate finds who a request comes from, or the 401 to answer.
func (s *Server) authenticate(r *http.Request) (tok *token.Token, apiKey bool, err error) {
	cfg := s.b.Config()
	cred := httpauth.APIKeyFrom(r)
	switch {
	case cred == "":
		if cfg.RequireMCPAuth || !httpauth.IsLoopback(s.opts.Listen) {
			return nil, false, mcpproxy.Errorf(mcpproxy.EUNAUTHORIZED,
				"this MCP endpoint needs the API key or an agent token: X-API-Key header, Authorization: Bearer, or ?apikey=")
		}
		return nil, false, nil
	case httpauth.KeyMatches(cred, cfg.APIKey):
		return nil, true, nil
	case token.LooksLike(cred) && s.opts.Tokens != nil:
		tok, err := s.opts.Tokens.Verify(cred)
		if err != nil {
			return nil, false, err
		}
		return tok, false, nil
	}
	return nil, false, mcpproxy.Errorf(mcpproxy.EUNAUTHORIZED,
		"wrong API key or agent token: send the API key or an mcpp_… agent token as X-API-Key header, Authorization: Bearer, or ?apikey=")
}

// bindIdentity hands the SDK the caller's identity as TokenInfo, for its
// check that every request of a session comes from the session's creator.
// The SDK takes TokenInfo only from its bearer-token middleware, which
// reads the Authorization header: the header it sees holds the identity
// (the credential was checked already and is not passed further).
func bindIdentity(h http.Handler) http.Handler {
	inner := auth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
		return &auth.TokenInfo{UserID: identityOf(ctx)}, nil
	}, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := identityOf(r.Context())
		if id == "" {
			// A keyless session is unrestricted; whoever has its id could
			// connect keyless too.
			h.ServeHTTP(w, r)
			return
		}
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+strings.ReplaceAll(id, " ", "_"))
		inner.ServeHTTP(w, r)
	})
}

// bindSSE does for legacy SSE sessions what the SDK's TokenInfo check does
// for streamable ones, which the SDK's SSE handler lacks: it learns a
// session's id from the endpoint event of the GET that opens it, and
// refuses a POST to that session from another identity. It also follows
// the session's calls, so that the response to one its client cancelled
// is left out of the stream (see sseSession).
func (s *Server) bindSSE(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := identityOf(r.Context())
		switch r.Method {
		case http.MethodPost:
			s.mu.Lock()
			ss := s.sse[r.URL.Query().Get("sessionid")]
			s.mu.Unlock()
			if ss != nil && ss.owner != id {
				httpauth.WriteError(w, mcpproxy.Errorf(mcpproxy.EFORBIDDEN, "this MCP session was opened with another credential"))
				return
			}
			if ss != nil {
				if body := readPosted(r); body != nil {
					if key := ss.posted(body); key != "" {
						sw := &httpauth.StatusWriter{ResponseWriter: w}
						h.ServeHTTP(sw, r)
						if sw.Status() != http.StatusAccepted {
							ss.forget(key) // refused: no response will come
						}
						return
					}
				}
			}
		case http.MethodGet:
			sw := &sseSniffer{ResponseWriter: w, bind: func(sid string) *sseSession {
				ss := newSSESession(id)
				s.mu.Lock()
				s.sse[sid] = ss
				s.mu.Unlock()
				return ss
			}}
			defer func() {
				if sw.sid != "" {
					s.mu.Lock()
					delete(s.sse, sw.sid)
					s.mu.Unlock()
				}
			}()
			w = sw
		}
		h.ServeHTTP(w, r)
	})
}

// sseSniffer finds the session id in the first bytes of an SSE stream (the
// endpoint event, "…?sessionid=ID") and binds it before the client can
// read it; after that it leaves out the responses the session drops.
type sseSniffer struct {
	http.ResponseWriter
	bind func(sid string) *sseSession
	head []byte // what was written before the id was found, at most 1 KiB
	sid  string
	ss   *sseSession // once bound
	done bool
}

func (w *sseSniffer) Write(p []byte) (int, error) {
	if !w.done {
		w.head = append(w.head, p[:min(len(p), 1024-len(w.head))]...)
		if _, rest, ok := bytes.Cut(w.head, []byte("sessionid=")); ok {
			end := bytes.IndexFunc(rest, func(r rune) bool {
				return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
			})
			if end > 0 {
				w.sid, w.done, w.head = string(rest[:end]), true, nil
				w.ss = w.bind(w.sid)
			}
		}
		if len(w.head) >= 1024 {
			w.done, w.head = true, nil
		}
	}
	if w.ss != nil && w.ss.drop(p) {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

func (w *sseSniffer) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *sseSniffer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// scopeError is the refusal of a server or tool the caller's token does
// not allow. It reads the same whether or not the server exists.
func scopeError(tok *token.Token, server string) error {
	return mcpproxy.Errorf(mcpproxy.EFORBIDDEN, "agent token %q may not use server %q", tok.Name, server)
}

// allowCall says why the caller's token may not call a tool, or nil. srv
// may be nil (the server is unknown): only the server is checked then.
func allowCall(tok *token.Token, server string, srv *stateview.Server, tool string) error {
	if tok == nil {
		return nil
	}
	if !tok.AllowsServer(server) {
		return scopeError(tok, server)
	}
	if !tok.ReadOnly || srv == nil {
		return nil
	}
	for i := range srv.Tools {
		if srv.Tools[i].Name == tool {
			if !token.ReadOnlyHint(srv.Tools[i].Annotations) {
				return mcpproxy.Errorf(mcpproxy.EFORBIDDEN, "agent token %q is read-only: tool %s:%s is not annotated readOnlyHint", tok.Name, server, tool)
			}
			return nil
		}
	}
	return nil // unknown tool: toolUsable says so
}

// toolAllowed reports whether a tool's annotations pass a read-only token.
func toolAllowed(tok *token.Token, server string, t *mcp.Tool) bool {
	if tok == nil {
		return true
	}
	if !tok.AllowsServer(server) {
		return false
	}
	return !tok.ReadOnly || (t.Annotations != nil && t.Annotations.ReadOnlyHint)
}
