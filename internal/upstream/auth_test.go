package upstream_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/oauth"
	"github.com/mcpproxy/mcpproxy/internal/oauth/oauthtest"
	"github.com/mcpproxy/mcpproxy/internal/store"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/mcpproxy/mcpproxy/internal/upstream"
)

// oauthActor runs an actor for the protected server of as, with an OAuth
// manager whose logins restart the actor, as the daemon wires them.
func oauthActor(tb testing.TB, as *oauthtest.Server) (*harness, *oauth.Manager) {
	return oauthActorAt(tb, mcpproxy.ProtocolStreamableHTTP, as.URL())
}

func oauthActorAt(tb testing.TB, proto mcpproxy.Protocol, url string) (*harness, *oauth.Manager) {
	tb.Helper()
	db, err := store.Open(tb.TempDir(), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	var actor atomic.Pointer[upstream.Actor]
	m, err := oauth.Open(db, oauth.Options{
		Logger:       testLogger(tb),
		Open:         oauthtest.Follow,
		LoginTimeout: 10 * time.Second,
		OnLogin: func(string) {
			if a := actor.Load(); a != nil {
				a.Restart()
			}
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		m.Close()
		db.Close()
	})
	h := startActor(tb, mcpproxy.ServerSpec{Protocol: proto, URL: url}, func(o *upstream.Options) {
		o.Auth = m
	})
	actor.Store(h.actor)
	return h, m
}

func login(tb testing.TB, m *oauth.Manager, url string) {
	tb.Helper()
	loginAt(tb, m, mcpproxy.ProtocolStreamableHTTP, url)
}

func loginAt(tb testing.TB, m *oauth.Manager, proto mcpproxy.Protocol, url string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := m.StartLogin(ctx, &mcpproxy.ServerSpec{Name: serverName, URL: url, Protocol: proto}); err != nil {
		tb.Fatal(err)
	}
}

func TestActor_OAuth(t *testing.T) {
	checkLeaks(t)
	as := oauthtest.New(t, oauthtest.Options{AccessTTL: 2 * time.Second})
	h, m := oauthActor(t, as)

	srv := h.waitState(t, 10*time.Second, mcpproxy.StateNeedsAuth)
	if !strings.Contains(srv.LastError, "the server requires an OAuth login") ||
		!strings.Contains(srv.LastError, "mcpproxy auth login up") || srv.NextRetryAt != nil || srv.RetryCount != 0 {
		t.Fatalf("needs_auth entry: error %q, next retry %v, retries %d", srv.LastError, srv.NextRetryAt, srv.RetryCount)
	}
	// No retry loop: the entry stays as it is.
	time.Sleep(500 * time.Millisecond)
	if now := h.server(); now.State != mcpproxy.StateNeedsAuth || !now.LastErrorAt.Equal(*srv.LastErrorAt) {
		t.Fatalf("after waiting: %s", lazyState{h})
	}

	login(t, m, as.URL())
	srv = h.waitState(t, 10*time.Second, mcpproxy.StateReady)
	if got, err := testupstream.CallText(t, srv.Session, "whoami", nil); err != nil || got != "hello, authorized client" {
		t.Fatalf("whoami = %q, %v", got, err)
	}

	t.Run("ProactiveRefresh", func(t *testing.T) {
		// Tokens live 2 s: refreshed at 1.6 s, twice within 4 s, while the
		// connection stays up and keeps working past the first token's end.
		waitFor(t, 6*time.Second, func() bool { return as.Refreshes() >= 2 }, "two refreshes (now %d)", lazy(func() any { return as.Refreshes() }))
		now := h.server()
		if now.State != mcpproxy.StateReady || now.Session != srv.Session {
			t.Fatalf("the connection changed: %s", lazyState{h})
		}
		if got, err := testupstream.CallText(t, now.Session, "whoami", nil); err != nil || got != "hello, authorized client" {
			t.Fatalf("whoami after refresh = %q, %v", got, err)
		}
		// Refreshed ahead of expiry, not after a refusal.
		if n := as.Rejected(); n != 0 {
			t.Fatalf("%d requests were refused for an expired token", n)
		}
	})

	t.Run("RevokedRefreshToken", func(t *testing.T) {
		as.RevokeRefreshTokens()
		srv := h.waitState(t, 6*time.Second, mcpproxy.StateNeedsAuth)
		if !strings.Contains(srv.LastError, "invalid_grant") || !strings.Contains(srv.LastError, "mcpproxy auth login up") {
			t.Fatalf("last error %q", srv.LastError)
		}
		for _, s := range as.Secrets() {
			if strings.Contains(srv.LastError, s) {
				t.Fatalf("a credential in last_error %q", srv.LastError)
			}
		}
		// A new login brings it back.
		login(t, m, as.URL())
		h.waitState(t, 10*time.Second, mcpproxy.StateReady)
	})
}

func TestActor_OAuthRefreshOn401(t *testing.T) {
	checkLeaks(t)
	as := oauthtest.New(t, oauthtest.Options{AccessTTL: time.Hour})
	h, m := oauthActor(t, as)
	h.waitState(t, 10*time.Second, mcpproxy.StateNeedsAuth)
	login(t, m, as.URL())
	srv := h.waitState(t, 10*time.Second, mcpproxy.StateReady)
	as.ExpireAccessTokens()
	if got, err := testupstream.CallText(t, srv.Session, "whoami", nil); err != nil || got != "hello, authorized client" {
		t.Fatalf("whoami with an expired token = %q, %v", got, err)
	}
	if n, r := as.Refreshes(), as.Rejected(); n != 1 || r != 1 {
		t.Fatalf("refreshes %d, refused requests %d; want 1 and 1 (one 401, then a refresh)", n, r)
	}
	if s := h.server(); s.State != mcpproxy.StateReady || s.Session != srv.Session {
		t.Fatalf("the connection changed: %s", lazyState{h})
	}
}

func TestActor_OAuthSSE(t *testing.T) {
	checkLeaks(t)
	as := oauthtest.New(t, oauthtest.Options{})
	h, m := oauthActorAt(t, mcpproxy.ProtocolSSE, as.SSEURL())
	srv := h.waitState(t, 10*time.Second, mcpproxy.StateNeedsAuth)
	if !strings.Contains(srv.LastError, "the server requires an OAuth login") {
		t.Fatalf("last error %q", srv.LastError)
	}
	loginAt(t, m, mcpproxy.ProtocolSSE, as.SSEURL())
	srv = h.waitState(t, 10*time.Second, mcpproxy.StateReady)
	if got, err := testupstream.CallText(t, srv.Session, "whoami", nil); err != nil || got != "hello, authorized client" || srv.Protocol != mcpproxy.ProtocolSSE {
		t.Fatalf("whoami over %s = %q, %v", srv.Protocol, got, err)
	}
	if got := as.Resources(); len(got) != 2 || got[0] != as.SSEURL() || got[1] != as.SSEURL() {
		t.Fatalf("resource parameters %q", got)
	}
}

func TestActor_OAuthAutoProtocol(t *testing.T) {
	checkLeaks(t)
	as := oauthtest.New(t, oauthtest.Options{})
	// auto tries streamable HTTP first; a challenge there is final, not a
	// reason to try SSE.
	h, _ := oauthActorAt(t, mcpproxy.ProtocolAuto, as.URL())
	srv := h.waitState(t, 10*time.Second, mcpproxy.StateNeedsAuth)
	if strings.Contains(srv.LastError, "SSE") {
		t.Fatalf("last error %q", srv.LastError)
	}
}

func TestActor_OAuthLeavesOwnAuthorizationHeader(t *testing.T) {
	checkLeaks(t)
	as := oauthtest.New(t, oauthtest.Options{})
	h := startActor(t, mcpproxy.ServerSpec{Protocol: mcpproxy.ProtocolStreamableHTTP, URL: as.URL(),
		Headers: map[string]string{"Authorization": "Bearer configured-by-hand"}}, func(o *upstream.Options) {
		o.Auth = panicAuth{}
	})
	// The configured header is sent as is and refused: an ordinary
	// error with retries, not a login mcpproxy would run.
	waitFor(t, 10*time.Second, func() bool {
		s := h.server()
		return s.State == mcpproxy.StateError && s.RetryCount >= 2
	}, "error state with retries (now %s)", lazyState{h})
	if as.Rejected() < 2 {
		t.Fatalf("the configured token was not sent (%d refused)", as.Rejected())
	}
}

// panicAuth fails the test if the actor asks it for anything.
type panicAuth struct{}

func (panicAuth) AccessToken(*mcpproxy.ServerSpec) (string, time.Time) { panic("AccessToken called") }
func (panicAuth) Refresh(context.Context, *mcpproxy.ServerSpec, string) error {
	panic("Refresh called")
}
