package httpapi

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
)

type fakeAuth struct {
	mu     sync.Mutex
	calls  []string          // guarded by mu
	secret map[string]string // guarded by mu: client secret seen per server
}

func (f *fakeAuth) StartLogin(_ context.Context, spec *mcpproxy.ServerSpec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "login "+spec.Name)
	if spec.OAuth != nil {
		f.secret[spec.Name] = spec.OAuth.ClientSecret
	}
	return "https://as.example/authorize?client_id=x&state=s", nil
}

func (f *fakeAuth) Status(spec *mcpproxy.ServerSpec) mcpproxy.AuthStatus {
	t := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	return mcpproxy.AuthStatus{Server: spec.Name, LoggedIn: true, ExpiresAt: &t, Scopes: []string{"read"}}
}

func (f *fakeAuth) Logout(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "logout "+name)
	return nil
}

func TestAPI_OAuth(t *testing.T) {
	t.Setenv("HTTPAPI_TEST_SECRET", "s3cr3t-from-env")
	cfg, _, err := config.Parse([]byte(`{"api_key": "` + testKey + `", "mcpServers": [
		{"name": "local", "command": "x"},
		{"name": "remote", "url": "https://h/mcp", "oauth": {"client_id": "c", "client_secret": "${env:HTTPAPI_TEST_SECRET}"}},
		{"name": "unset", "url": "https://h/mcp", "oauth": {"client_id": "c", "client_secret": "${env:HTTPAPI_TEST_UNSET}"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeBackend{view: stateview.New(), cfg: cfg}
	for _, n := range []string{"local", "remote", "unset"} {
		f.view.Put(srv(n, mcpproxy.StateNeedsAuth))
	}
	fa := &fakeAuth{secret: map[string]string{}}
	ts := httptest.NewServer(New(Options{Backend: f, Auth: fa}))
	t.Cleanup(ts.Close)

	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"POST", "/api/v1/servers/remote/login", 200, `{"success":true,"data":{"authorization_url":"https://as.example/authorize?client_id=x\u0026state=s","server":"remote"}}`},
		{"GET", "/api/v1/servers/remote/auth", 200, `{"success":true,"data":{"server":"remote","logged_in":true,"expires_at":"2030-01-01T00:00:00Z","scopes":["read"],"refreshable":false,"login_pending":false}}`},
		{"POST", "/api/v1/servers/remote/logout", 200, `{"success":true,"data":{"logged_out":true,"server":"remote"}}`},
		{"POST", "/api/v1/servers/zz/login", 404, `{"success":false,"error":{"code":"not_found","message":"server \"zz\" not found"}}`},
		{"POST", "/api/v1/servers/local/login", 400, `{"success":false,"error":{"code":"invalid","message":"server \"local\" is a stdio server; only HTTP and SSE servers log in with OAuth"}}`},
		{"POST", "/api/v1/servers/unset/login", 400, `{"success":false,"error":{"code":"invalid","message":"oauth.client_secret: ${env:HTTPAPI_TEST_UNSET} is not set"}}`},
		{"GET", "/api/v1/servers/remote/login", 405, ``},
	} {
		code, body := do(t, tc.method, ts.URL+tc.path, testKey)
		if code != tc.code || (tc.body != "" && body != tc.body) {
			t.Errorf("%s %s: got %d %s\nwant %d %s", tc.method, tc.path, code, body, tc.code, tc.body)
		}
	}
	if want := []string{"login remote", "logout remote"}; !slices.Equal(fa.calls, want) {
		t.Errorf("auth calls %v, want %v", fa.calls, want)
	}
	if fa.secret["remote"] != "s3cr3t-from-env" {
		t.Errorf("login got client secret %q, want the expanded one", fa.secret["remote"])
	}
	if !slices.Contains(f.commands, "restart remote") {
		t.Errorf("logout did not reconnect the server: %v", f.commands)
	}
	code, body := do(t, "GET", ts.URL+"/api/v1/auth", testKey)
	if code != 200 || !strings.Contains(body, `"server":"remote"`) || strings.Contains(body, `"server":"local"`) ||
		!strings.Contains(body, `{"server":"unset","logged_in":false,"refreshable":false,"login_pending":false,"last_error":"oauth.client_secret: ${env:HTTPAPI_TEST_UNSET} is not set"}`) {
		t.Errorf("GET /api/v1/auth: %d %s", code, body)
	}

	t.Run("Unavailable", func(t *testing.T) {
		ts := httptest.NewServer(New(Options{Backend: f}))
		t.Cleanup(ts.Close)
		code, body := do(t, "POST", ts.URL+"/api/v1/servers/remote/login", testKey)
		if code != 503 || !strings.Contains(body, "OAuth is not available") {
			t.Errorf("%d %s", code, body)
		}
	})
}

func TestAPI_SpecMasksClientSecret(t *testing.T) {
	f, ts := newTestAPI(t)
	f.setFile(t, `{"mcpServers": [{"name": "r", "url": "https://h/mcp", "oauth": {"client_id": "c", "client_secret": "literal-secret-123"}}]}`)
	code, body, _ := send(t, "PATCH", ts.URL+"/api/v1/servers/r", `{"url": "https://h/v2"}`)
	if code != 200 || strings.Contains(body, "literal-secret-123") || !strings.Contains(body, `"client_secret":"***"`) {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	if !strings.Contains(f.fileBytes(), "literal-secret-123") {
		t.Fatal("the file lost the secret")
	}
}
