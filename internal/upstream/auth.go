package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// Authorizer supplies OAuth access tokens for HTTP upstreams (see package
// oauth). Specs passed to it have their placeholders expanded.
type Authorizer interface {
	// AccessToken returns the server's current access token ("" when not
	// logged in) and when to refresh it (zero: only on a 401).
	AccessToken(spec *mcpproxy.ServerSpec) (token string, refreshAt time.Time)
	// Refresh gets a new access token unless stale is no longer current.
	// An error with code EUNAUTHORIZED means only a new login helps.
	Refresh(ctx context.Context, spec *mcpproxy.ServerSpec, stale string) error
}

// Challenger is an Authorizer that can answer a server's challenge by
// itself, without a person: a new login for a 401 it has no usable token
// for, or a step-up login for a 403 insufficient_scope. Only `mcpproxy
// upstream probe --auth follow` (tests and conformance runs) has one; the
// daemon's Authorizer is not one, and its servers go to needs_auth.
type Challenger interface {
	Authorizer
	// Challenge gets a token meant to satisfy the challenge (the answer's
	// status and WWW-Authenticate values), unless the token is no longer
	// stale. An error means the request cannot be authorized.
	Challenge(ctx context.Context, spec *mcpproxy.ServerSpec, stale string, status int, wwwAuthenticate []string) error
}

// ScopeRecorder is an Authorizer that learns which scope a server asked
// for in a 403 insufficient_scope, for the next login (the daemon's: it
// cannot log in without a person, so the request fails meanwhile). It must
// not block.
type ScopeRecorder interface {
	NeedScope(spec *mcpproxy.ServerSpec, wwwAuthenticate []string)
}

// maxChallenges bounds the logins one request may cause: a server that
// answers every new token with another challenge is not followed further.
const maxChallenges = 2

// NeedsAuthError is a connection failure that only a login can fix: the
// server answered 401 with a challenge and mcpproxy has no token it takes.
type NeedsAuthError struct {
	Server string
	Reason string
}

// insufficientScope reports whether resp is a 403 whose Bearer challenge
// says insufficient_scope: the token is good but not for this request.
func insufficientScope(resp *http.Response) bool {
	if resp.StatusCode != http.StatusForbidden {
		return false
	}
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if strings.Contains(strings.ToLower(v), "insufficient_scope") {
			return true
		}
	}
	return false
}

func (e *NeedsAuthError) Error() string {
	return fmt.Sprintf("needs login: %s; log in with `mcpproxy auth login %s` or the Log in button in the web UI", e.Reason, e.Server)
}

// authGate puts a connection's bearer token on its requests and remembers
// a challenge it could not answer. One per connection attempt.
type authGate struct {
	auth Authorizer
	spec *mcpproxy.ServerSpec
	// needs holds the reason once a 401 challenge could not be answered.
	needs atomic.Pointer[string]
}

// newAuthGate returns nil when spec's requests carry no OAuth token: no
// authorizer, or the config sets its own Authorization header.
func newAuthGate(auth Authorizer, spec *mcpproxy.ServerSpec) *authGate {
	if auth == nil {
		return nil
	}
	for k := range spec.Headers {
		if strings.EqualFold(k, "Authorization") {
			return nil
		}
	}
	return &authGate{auth: auth, spec: spec}
}

func (g *authGate) token() string {
	tok, _ := g.auth.AccessToken(g.spec)
	return tok
}

func (g *authGate) fail(reason string) { g.needs.Store(&reason) }

// err returns a NeedsAuthError when a challenge went unanswered, else nil.
func (g *authGate) err() error {
	if g == nil {
		return nil
	}
	if r := g.needs.Load(); r != nil {
		return &NeedsAuthError{Server: g.spec.Name, Reason: *r}
	}
	return nil
}

// send sends r with the current token and answers a 401 challenge by
// refreshing the token once and retrying. With a Challenger it also
// answers a 401 that a refresh cannot, and a 403 insufficient_scope, by
// its login, up to maxChallenges times per request.
func (g *authGate) send(base http.RoundTripper, r *http.Request) (*http.Response, error) {
	sent := g.token()
	if sent != "" {
		r.Header.Set("Authorization", "Bearer "+sent)
	}
	resp, err := base.RoundTrip(r)
	ch, _ := g.auth.(Challenger)
	refreshed := false
	for challenges := 0; ; {
		if err != nil {
			return resp, err
		}
		unauthorized := resp.StatusCode == http.StatusUnauthorized && len(resp.Header.Values("WWW-Authenticate")) > 0
		stepUp := insufficientScope(resp)
		if rec, ok := g.auth.(ScopeRecorder); ok && stepUp && ch == nil {
			rec.NeedScope(g.spec, resp.Header.Values("WWW-Authenticate"))
		}
		stepUp = stepUp && ch != nil
		if !unauthorized && !stepUp {
			if refreshed && resp.StatusCode == http.StatusUnauthorized {
				g.fail("the server refused a freshly refreshed access token")
			}
			return resp, nil
		}
		if r.Body != nil && r.Body != http.NoBody && r.GetBody == nil {
			// It cannot be sent again.
			if sent == "" {
				g.fail("the server requires an OAuth login")
			} else {
				g.fail("the server refused the access token")
			}
			return resp, nil
		}
		switch {
		case unauthorized && sent != "" && !refreshed && challenges == 0:
			// A refresh first: the token may only have expired.
			rerr := g.auth.Refresh(r.Context(), g.spec, sent)
			if rerr != nil && mcpproxy.ErrorCode(rerr) != mcpproxy.EUNAUTHORIZED {
				return resp, nil
			}
			if rerr == nil {
				refreshed = true
				break
			}
			if ch == nil {
				g.fail("the server refused the access token and " + mcpproxy.ErrorMessage(rerr))
				return resp, nil
			}
			fallthrough
		case ch != nil:
			if challenges == maxChallenges {
				g.fail(fmt.Sprintf("the server still refused the access token (HTTP %d) after %d logins", resp.StatusCode, challenges))
				return resp, nil
			}
			challenges++
			if cerr := ch.Challenge(r.Context(), g.spec, sent, resp.StatusCode, resp.Header.Values("WWW-Authenticate")); cerr != nil {
				g.fail(mcpproxy.ErrorMessage(cerr))
				return resp, nil
			}
		case sent == "":
			g.fail("the server requires an OAuth login")
			return resp, nil
		default:
			g.fail("the server refused a freshly refreshed access token")
			return resp, nil
		}
		retry := r.Clone(r.Context())
		if r.GetBody != nil {
			body, berr := r.GetBody()
			if berr != nil {
				return resp, nil
			}
			retry.Body = body
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		sent = g.token()
		retry.Header.Set("Authorization", "Bearer "+sent)
		resp, err = base.RoundTrip(retry)
	}
}

// refreshDue returns when the connection's token should be refreshed, and
// whether it should be at all.
func (g *authGate) refreshDue() (time.Time, bool) {
	if g == nil {
		return time.Time{}, false
	}
	tok, at := g.auth.AccessToken(g.spec)
	return at, tok != "" && !at.IsZero()
}

// refresh refreshes the token ahead of its expiry. A refusal becomes a
// NeedsAuthError; other failures are returned as they are, to retry.
func (g *authGate) refresh(ctx context.Context) error {
	err := g.auth.Refresh(ctx, g.spec, g.token())
	if err != nil && mcpproxy.ErrorCode(err) == mcpproxy.EUNAUTHORIZED {
		return &NeedsAuthError{Server: g.spec.Name, Reason: mcpproxy.ErrorMessage(err)}
	}
	return err
}

// isNeedsAuth reports whether err is a NeedsAuthError.
func isNeedsAuth(err error) (*NeedsAuthError, bool) {
	var na *NeedsAuthError
	ok := errors.As(err, &na)
	return na, ok
}
