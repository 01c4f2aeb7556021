package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/store"
	"github.com/mcpproxy/mcpproxy/internal/token"
)

func newTokenAPI(tb testing.TB) (*token.Tokens, *activity.Log, *httptest.Server) {
	tb.Helper()
	db, err := store.Open(tb.TempDir(), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	tk, err := token.Open(db, token.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	alog, err := activity.Open(db, activity.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), FlushEvery: 10 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { alog.Close() })
	cfg := config.Default()
	cfg.APIKey = testKey
	f := &fakeBackend{view: stateview.New(), cfg: cfg}
	ts := httptest.NewServer(New(Options{Backend: f, Tokens: tk, Activity: alog}))
	tb.Cleanup(ts.Close)
	return tk, alog, ts
}

func doBody(tb testing.TB, method, url, key, body string) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestAPI_Tokens(t *testing.T) {
	tk, alog, ts := newTokenAPI(t)
	code, body := doBody(t, "POST", ts.URL+"/api/v1/tokens", testKey,
		`{"name":"bot","servers":["gh","fs"],"read_only":true,"expires":"30d"}`)
	var created struct {
		Success bool          `json:"success"`
		Data    token.Created `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil || code != http.StatusCreated || !created.Success {
		t.Fatalf("create: %d %s (%v)", code, body, err)
	}
	secret := created.Data.Secret
	if !strings.HasPrefix(secret, token.Prefix) || created.Data.Name != "bot" || !created.Data.ReadOnly || created.Data.Manage ||
		created.Data.ExpiresAt.Sub(created.Data.CreatedAt) != 30*24*time.Hour {
		t.Errorf("created = %+v", created.Data)
	}
	if tok, err := tk.Verify(secret); err != nil || tok.Name != "bot" {
		t.Fatalf("the secret does not verify: %v", err)
	}

	code, body = do(t, "GET", ts.URL+"/api/v1/tokens", testKey)
	if code != 200 || strings.Contains(body, secret) || strings.Contains(body, `"hash"`) || strings.Contains(body, `"secret"`) {
		t.Errorf("list shows the secret or its hash: %d %s", code, body)
	}
	var list struct {
		Data []token.Info `json:"data"`
	}
	json.Unmarshal([]byte(body), &list)
	if len(list.Data) != 1 || list.Data[0].Name != "bot" || strings.Join(list.Data[0].Servers, ",") != "gh,fs" || list.Data[0].LastUsed.IsZero() {
		t.Errorf("list = %s", body)
	}

	// An agent token is no key to the REST API, not even to list tokens.
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/tokens", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("REST with an agent token: %d, want 401", resp.StatusCode)
	}

	for _, tc := range []struct {
		name, body string
		code       int
		msg        string
	}{
		{"Taken", `{"name":"bot","servers":["x"]}`, 409, "name: a token named"},
		{"NoServers", `{"name":"x"}`, 400, "servers: required"},
		{"BadExpires", `{"name":"x","servers":["a"],"expires":"soon"}`, 400, "expires:"},
		{"UnknownField", `{"name":"x","servers":["a"],"scope":"all"}`, 400, `unknown field \"scope\"`},
		{"WrongType", `{"name":"x","servers":"a"}`, 400, "body.servers"},
		{"Empty", ``, 400, "body: empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := doBody(t, "POST", ts.URL+"/api/v1/tokens", testKey, tc.body)
			if code != tc.code || !strings.Contains(body, tc.msg) {
				t.Errorf("%d %s, want %d with %q", code, body, tc.code, tc.msg)
			}
		})
	}
	if n := len(tk.List()); n != 1 {
		t.Errorf("%d tokens after refused creates, want 1", n)
	}

	code, body = do(t, "DELETE", ts.URL+"/api/v1/tokens/bot", testKey)
	if code != 200 || body != `{"success":true,"data":{"revoked":true,"token":"bot"}}` {
		t.Errorf("revoke: %d %s", code, body)
	}
	if _, err := tk.Verify(secret); err == nil {
		t.Error("a revoked token verifies")
	}
	if code, body = do(t, "DELETE", ts.URL+"/api/v1/tokens/bot", testKey); code != 404 {
		t.Errorf("revoke again: %d %s, want 404", code, body)
	}
	if code, _ = do(t, "DELETE", ts.URL+"/api/v1/tokens/bot", ""); code != 401 {
		t.Errorf("revoke without the key: %d, want 401", code)
	}

	// The log has the person's actions, never the secret.
	alog.Flush()
	page, err := alog.List(activity.Filter{Kind: activity.KindManagement, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range page.Records {
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), secret) {
			t.Errorf("activity record holds the secret: %s", b)
		}
		if r.Status == activity.StatusOK {
			actions = append(actions, r.Action+" "+string(r.Arguments)+" "+r.Server)
		}
	}
	want := []string{`revoke_token {"name":"bot"} `, `create_token {"name":"bot","servers":["gh","fs"],"read_only":true,"expires":"30d"} `}
	if strings.Join(actions, "|") != strings.Join(want, "|") {
		t.Errorf("actions = %q\nwant %q", actions, want)
	}
}

func TestAPI_TokensUnavailable(t *testing.T) {
	_, ts := newTestAPI(t)
	if code, body := do(t, "GET", ts.URL+"/api/v1/tokens", testKey); code != 503 {
		t.Errorf("without tokens: %d %s, want 503", code, body)
	}
}
