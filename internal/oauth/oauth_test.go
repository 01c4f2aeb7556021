package oauth_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/oauth"
	"github.com/mcpproxy/mcpproxy/internal/oauth/oauthtest"
	"github.com/mcpproxy/mcpproxy/internal/store"
)

type harness struct {
	tb     testing.TB
	dir    string
	db     *store.Store
	m      *oauth.Manager
	logins chan string
	events chan mcpproxy.Event
}

func newHarness(tb testing.TB, dir string) *harness {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	h := &harness{tb: tb, dir: dir, db: db, logins: make(chan string, 10), events: make(chan mcpproxy.Event, 100)}
	h.m, err = oauth.Open(db, oauth.Options{
		OnLogin: func(s string) { h.logins <- s },
		Publish: func(ev mcpproxy.Event) {
			select {
			case h.events <- ev:
			default:
			}
		},
		Open:         oauthtest.Follow,
		LoginTimeout: 10 * time.Second,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(h.close)
	return h
}

func (h *harness) close() {
	h.m.Close()
	h.db.Close()
}

func (h *harness) login(spec *mcpproxy.ServerSpec) string {
	h.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := h.m.StartLogin(ctx, spec)
	if err != nil {
		h.tb.Fatalf("StartLogin: %v", err)
	}
	select {
	case name := <-h.logins:
		if name != spec.Name {
			h.tb.Fatalf("OnLogin(%q), want %q", name, spec.Name)
		}
	case <-ctx.Done():
		h.tb.Fatalf("login did not complete; status %+v", h.m.Status(spec))
	}
	return u
}

func (h *harness) event(typ, event string) mcpproxy.Event {
	h.tb.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-h.events:
			if ev.Type == typ && strings.Contains(string(ev.Data), `"event":"`+event+`"`) {
				return ev
			}
		case <-timeout:
			h.tb.Fatalf("no %s %s event", typ, event)
		}
	}
}

func TestLogin_DynamicRegistration(t *testing.T) {
	as := oauthtest.New(t, oauthtest.Options{Scopes: []string{"mcp.read", "mcp.write"}})
	h := newHarness(t, "")
	spec := &mcpproxy.ServerSpec{Name: "remote", URL: as.URL()}
	u := h.login(spec)
	for _, want := range []string{"code_challenge_method=S256", "code_challenge=", "resource=", "state=", "redirect_uri=http%3A%2F%2F127.0.0.1%3A"} {
		if !strings.Contains(u, want) {
			t.Errorf("authorization URL %s lacks %s", u, want)
		}
	}
	// At /authorize and at /token.
	if got := as.Resources(); !slices.Equal(got, []string{as.URL(), as.URL()}) {
		t.Errorf("resource parameters %q, want [%s] twice", got, as.URL())
	}
	tok, refreshAt := h.m.AccessToken(spec)
	if !strings.HasPrefix(tok, "at-") || refreshAt.IsZero() {
		t.Fatalf("AccessToken = %q, %v", tok, refreshAt)
	}
	st := h.m.Status(spec)
	if !st.LoggedIn || st.Client != "registered" || !st.Refreshable || st.ExpiresAt == nil ||
		!slices.Contains(st.Scopes, "mcp.read") || !slices.Contains(st.Scopes, "mcp.write") {
		t.Fatalf("status %+v", st)
	}
	h.event(mcpproxy.EventServerAuth, "login_succeeded")

	// A second login reuses the registered client.
	h.login(spec)
	if n := as.Clients(); n != 1 {
		t.Errorf("%d clients registered, want 1 (reused)", n)
	}

	t.Run("URLChangeInvalidates", func(t *testing.T) {
		moved := *spec
		moved.URL = as.URL() + "/v2"
		if tok, _ := h.m.AccessToken(&moved); tok != "" {
			t.Fatal("a token for the old URL is used for the new one")
		}
		if st := h.m.Status(&moved); st.LoggedIn {
			t.Fatalf("status %+v", st)
		}
		cfgd := *spec
		cfgd.OAuth = &mcpproxy.OAuthSpec{ClientID: "other"}
		if tok, _ := h.m.AccessToken(&cfgd); tok != "" {
			t.Fatal("a token of the registered client is used for a configured one")
		}
	})
	t.Run("Logout", func(t *testing.T) {
		if err := h.m.Logout("remote"); err != nil {
			t.Fatal(err)
		}
		if tok, _ := h.m.AccessToken(spec); tok != "" {
			t.Fatal("token after logout")
		}
	})
}

func TestLogin_ConfiguredClientAndFixedPort(t *testing.T) {
	t.Run("SecretInForm", func(t *testing.T) { testConfiguredClient(t, oauthtest.Options{NoRegistration: true}) })
	t.Run("SecretInBasicAuth", func(t *testing.T) {
		testConfiguredClient(t, oauthtest.Options{NoRegistration: true, BasicAuthOnly: true})
	})
}

func testConfiguredClient(t *testing.T, opts oauthtest.Options) {
	as := oauthtest.New(t, opts)
	port := freePort(t)
	redirect := "http://127.0.0.1:" + port + oauth.CallbackPath
	as.AddClient("cid", "csecret", redirect)
	h := newHarness(t, "")
	p := 0
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	spec := &mcpproxy.ServerSpec{Name: "cfg", URL: as.URL(), OAuth: &mcpproxy.OAuthSpec{ClientID: "cid", ClientSecret: "csecret", Scopes: []string{"mcp.read"}, RedirectPort: p}}
	h.login(spec)
	if st := h.m.Status(spec); !st.LoggedIn || st.Client != "configured" {
		t.Fatalf("status %+v", st)
	}
	tok, _ := h.m.AccessToken(spec)
	if err := h.m.Refresh(context.Background(), spec, tok); err != nil {
		t.Fatalf("refresh with the configured secret: %v", err)
	}
	if as.Refreshes() != 1 {
		t.Fatalf("refreshes %d", as.Refreshes())
	}
	t.Run("WrongSecret", func(t *testing.T) {
		bad := *spec
		bad.OAuth = &mcpproxy.OAuthSpec{ClientID: "cid", ClientSecret: "nope", RedirectPort: p}
		tok, _ := h.m.AccessToken(&bad)
		err := h.m.Refresh(context.Background(), &bad, tok)
		if mcpproxy.ErrorCode(err) != mcpproxy.EUNAUTHORIZED || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestLogin_WrongClientSecret(t *testing.T) {
	as := oauthtest.New(t, oauthtest.Options{NoRegistration: true})
	port := freePort(t)
	as.AddClient("cid", "right-secret", "http://127.0.0.1:"+port+oauth.CallbackPath)
	p := 0
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	_, err := oauth.Login(context.Background(), oauth.LoginConfig{
		ServerURL: as.URL(),
		OAuth:     &mcpproxy.OAuthSpec{ClientID: "cid", ClientSecret: "wrong-secret", RedirectPort: p},
		Open:      oauthtest.Follow,
	})
	want := "login: token exchange: refused by the authorization server: invalid_client (unknown client or wrong secret)"
	if err == nil || err.Error() != want || mcpproxy.ErrorCode(err) != mcpproxy.EUNAUTHORIZED {
		t.Fatalf("err = %v, want %q", err, want)
	}
	for _, s := range append(as.Secrets(), "wrong-secret") {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("a credential in %q", err)
		}
	}
}

func TestRefresh(t *testing.T) {
	as := oauthtest.New(t, oauthtest.Options{AccessTTL: 2 * time.Second})
	h := newHarness(t, "")
	spec := &mcpproxy.ServerSpec{Name: "remote", URL: as.URL()}
	h.login(spec)
	tok, refreshAt := h.m.AccessToken(spec)
	if d := time.Until(refreshAt); d > 1700*time.Millisecond || d < 0 {
		t.Errorf("refresh due in %s, want about 80%% of 2s", d)
	}
	if err := h.m.Refresh(context.Background(), spec, tok); err != nil {
		t.Fatal(err)
	}
	tok2, _ := h.m.AccessToken(spec)
	if tok2 == tok || as.Refreshes() != 1 {
		t.Fatalf("token unchanged or refreshes %d", as.Refreshes())
	}
	if got := as.Resources(); len(got) != 3 || got[2] != as.URL() {
		t.Errorf("resource parameters %q: the refresh should name %s", got, as.URL())
	}
	// A stale caller does not refresh again.
	if err := h.m.Refresh(context.Background(), spec, tok); err != nil || as.Refreshes() != 1 {
		t.Fatalf("stale refresh: %v, refreshes %d", err, as.Refreshes())
	}
	if st := h.m.Status(spec); st.LastRefresh == nil {
		t.Fatalf("status %+v", st)
	}

	t.Run("RestartKeepsLogin", func(t *testing.T) {
		h.close()
		h2 := newHarness(t, h.dir)
		if got, _ := h2.m.AccessToken(spec); got != tok2 {
			t.Fatalf("after reopening: token %q, want the stored one", got)
		}
		h = h2
	})

	t.Run("Revoked", func(t *testing.T) {
		as.RevokeRefreshTokens()
		tok, _ := h.m.AccessToken(spec)
		err := h.m.Refresh(context.Background(), spec, tok)
		if mcpproxy.ErrorCode(err) != mcpproxy.EUNAUTHORIZED || !strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("err = %v", err)
		}
		ev := h.event(mcpproxy.EventServerAuth, "refresh_failed")
		if !strings.Contains(string(ev.Data), "invalid_grant") {
			t.Errorf("event %s", ev.Data)
		}
		if st := h.m.Status(spec); !strings.Contains(st.LastError, "invalid_grant") {
			t.Errorf("status %+v", st)
		}
		for _, s := range as.Secrets() {
			if strings.Contains(err.Error(), s) || strings.Contains(string(ev.Data), s) {
				t.Fatalf("a credential shows in %q / %s", err, ev.Data)
			}
		}
	})
}

func TestLogin_ServerWithoutAuth(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(plain.Close)
	h := newHarness(t, "")
	_, err := h.m.StartLogin(context.Background(), &mcpproxy.ServerSpec{Name: "plain", URL: plain.URL})
	if mcpproxy.ErrorCode(err) != mcpproxy.ECONFLICT || !strings.Contains(err.Error(), "did not ask for authorization") {
		t.Fatalf("err = %v", err)
	}
	_, err = h.m.StartLogin(context.Background(), &mcpproxy.ServerSpec{Name: "local", Command: "x"})
	if mcpproxy.ErrorCode(err) != mcpproxy.EINVALID {
		t.Fatalf("stdio: err = %v", err)
	}
}

func TestLogin_AuthorizationRefused(t *testing.T) {
	as := oauthtest.New(t, oauthtest.Options{})
	// Login on its own, with an Open that answers the redirect with an error.
	_, err := oauth.Login(context.Background(), oauth.LoginConfig{
		ServerURL: as.URL(),
		Open: func(ctx context.Context, authURL string) error {
			u := redirectOf(t, authURL) + "?error=access_denied&error_description=user+said+no"
			resp, err := http.Get(u)
			if err == nil {
				resp.Body.Close()
			}
			return err
		},
	})
	if err == nil || !strings.Contains(err.Error(), "access_denied: user said no") {
		t.Fatalf("err = %v", err)
	}
}

func redirectOf(tb testing.TB, authURL string) string {
	tb.Helper()
	i := strings.Index(authURL, "redirect_uri=")
	if i < 0 {
		tb.Fatalf("no redirect_uri in %s", authURL)
	}
	v := authURL[i+len("redirect_uri="):]
	if j := strings.IndexByte(v, '&'); j >= 0 {
		v = v[:j]
	}
	v = strings.NewReplacer("%3A", ":", "%2F", "/").Replace(v)
	return v
}

func freePort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return port
}

func TestPruneAndForget(t *testing.T) {
	as := oauthtest.New(t, oauthtest.Options{})
	h := newHarness(t, "")
	specs := map[string]*mcpproxy.ServerSpec{}
	for _, name := range []string{"keep", "gone", "removed"} {
		specs[name] = &mcpproxy.ServerSpec{Name: name, URL: as.URL()}
		h.login(specs[name])
	}
	if err := h.m.Prune(func(name string) bool { return name != "gone" }); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Forget("removed"); err != nil {
		t.Fatal(err)
	}
	h.close()
	h2 := newHarness(t, h.dir)
	for name, want := range map[string]bool{"keep": true, "gone": false, "removed": false} {
		if tok, _ := h2.m.AccessToken(specs[name]); (tok != "") != want {
			t.Errorf("%s: logged in %v after reopening, want %v", name, tok != "", want)
		}
	}
	// The registered client went with the grant: a new login registers again.
	before := as.Clients()
	h2.login(specs["gone"])
	if as.Clients() != before+1 {
		t.Errorf("clients %d -> %d: a forgotten server reused its registration", before, as.Clients())
	}
}

func TestManager_NeedScope(t *testing.T) {
	as := oauthtest.New(t, oauthtest.Options{Scopes: []string{"mcp.read"}})
	h := newHarness(t, "")
	spec := &mcpproxy.ServerSpec{Name: "remote", URL: as.URL()}
	h.login(spec)
	if st := h.m.Status(spec); !slices.Equal(st.Scopes, []string{"mcp.read", "offline_access"}) {
		t.Fatalf("first login's scopes %q", st.Scopes)
	}

	// A scope the grant has already is not news.
	h.m.NeedScope(spec, []string{`Bearer error="insufficient_scope", scope="mcp.read"`})
	if st := h.m.Status(spec); st.LastError != "" {
		t.Errorf("granted scope recorded as missing: %q", st.LastError)
	}
	h.m.NeedScope(spec, []string{`Bearer error="insufficient_scope", scope="mcp.read mcp.write", resource_metadata="https://x/"`})
	st := h.m.Status(spec)
	if !strings.Contains(st.LastError, `"mcp.write"`) || !strings.Contains(st.LastError, "mcpproxy auth login remote") || !st.LoggedIn {
		t.Errorf("status after a 403 insufficient_scope: %+v", st)
	}
	h.event(mcpproxy.EventServerAuth, "scope_needed")

	// The next login asks for the scope too, and the need is forgotten.
	h.login(spec)
	st = h.m.Status(spec)
	if !slices.Contains(st.Scopes, "mcp.write") || !slices.Contains(st.Scopes, "mcp.read") || st.LastError != "" {
		t.Errorf("status after the step-up login: %+v", st)
	}
}

func TestLogin_ErrorOnOneLine(t *testing.T) {
	// A protected resource whose authorization server has no metadata and
	// answers every request with a long HTML page: the SDK's error quotes
	// the page.
	page := "<!DOCTYPE html>\n<html>\n<body>\n" + strings.Repeat("<p>not here</p>\n", 100) + "</body>\n</html>\n"
	var rs *httptest.Server
	rs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/mcp" {
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+rs.URL+`/prm"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/prm" {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"resource":"` + rs.URL + `/mcp","authorization_servers":["` + rs.URL + `"]}`))
			return
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(page))
	}))
	defer rs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := oauth.Login(ctx, oauth.LoginConfig{ServerURL: rs.URL + "/mcp", Open: oauthtest.Follow})
	if err == nil {
		t.Fatal("login succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || len([]rune(msg)) > 320 || !strings.HasPrefix(msg, "login: ") {
		t.Errorf("error not one short line (%d runes): %q", len([]rune(msg)), msg)
	}
}

func TestUnattended(t *testing.T) {
	as := oauthtest.New(t, oauthtest.Options{Scopes: []string{"mcp.read"}})
	spec := &mcpproxy.ServerSpec{Name: "probe", URL: as.URL()}
	u := oauth.NewUnattended(oauth.LoginConfig{ServerURL: as.URL(), Open: oauth.Follow})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	challenge := []string{`Bearer scope="mcp.read"`}

	// Concurrent challenges for the same stale token share one login.
	errs := make(chan error, 5)
	for range 5 {
		go func() { errs <- u.Challenge(ctx, spec, "", http.StatusUnauthorized, challenge) }()
	}
	for range 5 {
		if err := <-errs; err != nil {
			t.Fatalf("Challenge: %v", err)
		}
	}
	tok, refreshAt := u.AccessToken(spec)
	if u.Logins() != 1 || tok == "" || !refreshAt.IsZero() || as.Clients() != 1 {
		t.Fatalf("after one challenge: %d logins, token set %v, refresh at %v, %d clients", u.Logins(), tok != "", refreshAt, as.Clients())
	}
	if err := u.Refresh(ctx, spec, tok); mcpproxy.ErrorCode(err) != mcpproxy.EUNAUTHORIZED {
		t.Errorf("Refresh: %v; want EUNAUTHORIZED", err)
	}
	// A token that is no longer stale needs no login.
	if err := u.Challenge(ctx, spec, "old-token", http.StatusUnauthorized, challenge); err != nil || u.Logins() != 1 {
		t.Errorf("challenge with an outdated token: %v, %d logins", err, u.Logins())
	}
	// Step-ups reuse the registered client, up to the limit of 3 logins.
	for i := 2; i <= 3; i++ {
		tok, _ = u.AccessToken(spec)
		if err := u.Challenge(ctx, spec, tok, http.StatusForbidden, []string{`Bearer error="insufficient_scope", scope="mcp.read"`}); err != nil {
			t.Fatalf("step-up %d: %v", i, err)
		}
	}
	if u.Logins() != 3 || as.Clients() != 1 {
		t.Errorf("%d logins, %d clients; want 3 logins with 1 client", u.Logins(), as.Clients())
	}
	tok, _ = u.AccessToken(spec)
	if err := u.Challenge(ctx, spec, tok, http.StatusUnauthorized, challenge); err == nil || !strings.Contains(err.Error(), "gave up after 3 logins") {
		t.Errorf("fourth login: %v; want gave up", err)
	}
}
