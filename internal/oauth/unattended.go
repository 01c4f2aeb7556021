package oauth

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// Follow is an Open callback for logins without a person: it requests the
// authorization URL and follows the redirects to the loopback listener.
// It completes a login only against an authorization server that grants
// without asking anyone (test servers such as oauthtest's or the
// conformance suite's); a real one answers with a login page, which Follow
// reports as an error.
func Follow(ctx context.Context, authURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return err
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != CallbackPath {
		return fmt.Errorf("follow the authorization URL: ended at %s with HTTP %d, not at the loopback redirect (an authorization server that wants a person cannot be followed)", resp.Request.URL.Redacted(), resp.StatusCode)
	}
	return nil
}

// maxUnattendedLogins bounds the logins one Unattended runs: the first and
// two step-ups. A server that keeps asking for more scope than it grants
// would otherwise loop.
const maxUnattendedLogins = 3

// Unattended holds one server's login in memory and logs in by itself when
// the server challenges: the authorization half of `mcpproxy upstream
// probe --auth follow`, for tests and conformance runs. It stores nothing
// on disk. It satisfies upstream.Authorizer and upstream.Challenger.
//
// It is safe for concurrent use; its mutex is never held across a login,
// and concurrent challenges share one login.
type Unattended struct {
	cfg LoginConfig // the template of every login; Challenge set per login

	mu      sync.Mutex
	grant   *Grant         // guarded by mu
	client  *Client        // guarded by mu: registered by the first login, reused
	logins  int            // guarded by mu: logins started
	running *unattendedRun // guarded by mu: the login in progress
}

type unattendedRun struct {
	done chan struct{}
	err  error
}

// NewUnattended returns an Unattended that logs in with cfg (its Open is
// typically Follow).
func NewUnattended(cfg LoginConfig) *Unattended {
	return &Unattended{cfg: cfg}
}

// Logins is the number of logins started so far.
func (u *Unattended) Logins() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.logins
}

// Grant returns the current grant, or nil before the first login.
func (u *Unattended) Grant() *Grant {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.grant
}

// AccessToken returns the current access token; it is never refreshed
// ahead of time.
func (u *Unattended) AccessToken(*mcpproxy.ServerSpec) (string, time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.grant == nil {
		return "", time.Time{}
	}
	return u.grant.AccessToken, time.Time{}
}

// Refresh does not refresh: a refused token is answered by a new login
// (Challenge) instead.
func (u *Unattended) Refresh(context.Context, *mcpproxy.ServerSpec, string) error {
	return mcpproxy.Errorf(mcpproxy.EUNAUTHORIZED, "an unattended login is not refreshed")
}

// Challenge logs in again in answer to the server's challenge, unless the
// token has changed since stale was sent (another request's challenge got
// a new one already).
func (u *Unattended) Challenge(ctx context.Context, spec *mcpproxy.ServerSpec, stale string, status int, wwwAuthenticate []string) error {
	u.mu.Lock()
	if u.grant != nil && u.grant.AccessToken != stale {
		u.mu.Unlock()
		return nil
	}
	if r := u.running; r != nil {
		u.mu.Unlock()
		select {
		case <-r.done:
			return r.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if u.logins >= maxUnattendedLogins {
		u.mu.Unlock()
		return mcpproxy.Errorf(mcpproxy.EUNAUTHORIZED, "gave up after %d logins: the server keeps refusing the tokens it gets", u.logins)
	}
	u.logins++
	r := &unattendedRun{done: make(chan struct{})}
	u.running = r
	cfg := u.cfg
	cfg.Registered = u.client
	u.mu.Unlock()

	if cfg.ServerURL == "" {
		cfg.ServerURL = spec.URL
	}
	cfg.Challenge = &Challenge{Status: status, WWWAuthenticate: wwwAuthenticate}
	res, err := Login(ctx, cfg)
	u.mu.Lock()
	if err == nil {
		u.grant = res.Grant
		if res.Client != nil {
			u.client = res.Client
		}
	}
	u.running = nil
	u.mu.Unlock()
	r.err = err
	close(r.done)
	return err
}
