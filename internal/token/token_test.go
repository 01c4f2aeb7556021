package token

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/store"
)

func openDB(tb testing.TB) *store.Store {
	tb.Helper()
	db, err := store.Open(tb.TempDir(), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func openTokens(tb testing.TB) *Tokens {
	tb.Helper()
	db := openDB(tb)
	tk, err := Open(db, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return tk
}

func TestTokens_CreateVerifyRevoke(t *testing.T) {
	tk := openTokens(t)
	c, err := tk.Create(Spec{Name: "bot", Servers: []string{"gh", "gh", " fs "}, ReadOnly: true, Expires: "30d"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Secret, Prefix) || len(c.Secret) < len(Prefix)+40 {
		t.Errorf("secret %q: want %s and 256 random bits", c.Secret, Prefix)
	}
	if got := strings.Join(c.Servers, ","); got != "gh,fs" {
		t.Errorf("servers = %q, want gh,fs (trimmed, deduplicated)", got)
	}
	if d := c.ExpiresAt.Sub(c.CreatedAt); d != 30*24*time.Hour {
		t.Errorf("lifetime = %s, want 30 days", d)
	}
	tok, err := tk.Verify(c.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Name != "bot" || !tok.ReadOnly || tok.Manage || tok.LastUsed.IsZero() {
		t.Errorf("verified token = %+v", tok)
	}
	if _, err := tk.Verify(c.Secret + "x"); mcpproxy.ErrorCode(err) != mcpproxy.EUNAUTHORIZED {
		t.Errorf("wrong secret: %v, want unauthorized", err)
	}
	list := tk.List()
	if len(list) != 1 || list[0].Name != "bot" || list[0].LastUsed.IsZero() {
		t.Errorf("list = %+v", list)
	}
	b, _ := json.Marshal(list)
	if strings.Contains(string(b), c.Secret) || strings.Contains(string(b), hashOf(c.Secret)) {
		t.Errorf("list shows the secret or its hash: %s", b)
	}
	if err := tk.Revoke("bot"); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Verify(c.Secret); mcpproxy.ErrorCode(err) != mcpproxy.EUNAUTHORIZED {
		t.Errorf("revoked: %v, want unauthorized", err)
	}
	if err := tk.Revoke("bot"); mcpproxy.ErrorCode(err) != mcpproxy.ENOTFOUND {
		t.Errorf("revoke twice: %v, want not found", err)
	}
}

func TestTokens_Expired(t *testing.T) {
	tk := openTokens(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tk.now = func() time.Time { return now }
	c, err := tk.Create(Spec{Name: "short", Servers: []string{"*"}, Expires: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Verify(c.Secret); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	now = now.Add(time.Hour)
	_, err = tk.Verify(c.Secret)
	if mcpproxy.ErrorCode(err) != mcpproxy.EUNAUTHORIZED || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired token: %v, want unauthorized saying expired", err)
	}
	if l := tk.List(); len(l) != 1 || !l[0].Expired {
		t.Errorf("list = %+v, want the token marked expired", l)
	}
}

func TestTokens_Persisted(t *testing.T) {
	db := openDB(t)
	tk, err := Open(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tk.Create(Spec{Name: "keep", Servers: []string{"a"}, Manage: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Verify(c.Secret); err != nil {
		t.Fatal(err)
	}
	again, err := Open(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := again.Verify(c.Secret)
	if err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	if !tok.Manage || !tok.ExpiresAt.IsZero() {
		t.Errorf("reopened token = %+v", tok)
	}
	if l := again.List(); len(l) != 1 || l[0].LastUsed.IsZero() {
		t.Errorf("last used not persisted: %+v", l)
	}
	// Only the hash is stored.
	db.View(func(tx mcpproxy.StoreTx) error {
		v := tx.Get(bucket, []byte("keep"))
		if strings.Contains(string(v), c.Secret) || strings.Contains(string(v), strings.TrimPrefix(c.Secret, Prefix)) {
			t.Errorf("stored record holds the secret: %s", v)
		}
		return nil
	})
}

func TestTokens_CreateInvalid(t *testing.T) {
	tk := openTokens(t)
	if _, err := tk.Create(Spec{Name: "dup", Servers: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		spec  Spec
		field string
		code  string
	}{
		{"EmptyName", Spec{Servers: []string{"a"}}, "name", mcpproxy.EINVALID},
		{"DotName", Spec{Name: "..", Servers: []string{"a"}}, "name", mcpproxy.EINVALID},
		{"SlashName", Spec{Name: "a/b", Servers: []string{"a"}}, "name", mcpproxy.EINVALID},
		{"NoServers", Spec{Name: "x"}, "servers", mcpproxy.EINVALID},
		{"BadServer", Spec{Name: "x", Servers: []string{"a b"}}, "servers[0]", mcpproxy.EINVALID},
		{"BadExpires", Spec{Name: "x", Servers: []string{"a"}, Expires: "soon"}, "expires", mcpproxy.EINVALID},
		{"ZeroDays", Spec{Name: "x", Servers: []string{"a"}, Expires: "0d"}, "expires", mcpproxy.EINVALID},
		{"TooShort", Spec{Name: "x", Servers: []string{"a"}, Expires: "5s"}, "expires", mcpproxy.EINVALID},
		{"Taken", Spec{Name: "dup", Servers: []string{"b"}}, "name", mcpproxy.ECONFLICT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tk.Create(tc.spec)
			if mcpproxy.ErrorCode(err) != tc.code || !strings.HasPrefix(err.Error(), tc.field+":") {
				t.Errorf("err = %v (%s), want %s naming %s", err, mcpproxy.ErrorCode(err), tc.code, tc.field)
			}
			if n := len(tk.List()); n != 1 {
				t.Errorf("%d tokens after a refused create, want 1", n)
			}
		})
	}
}

func TestToken_Allows(t *testing.T) {
	ro := json.RawMessage(`{"readOnlyHint":true}`)
	rw := json.RawMessage(`{"destructiveHint":true}`)
	some := &Token{Servers: []string{"a"}}
	all := &Token{Servers: []string{AllServers}, ReadOnly: true}
	for _, tc := range []struct {
		tok    *Token
		server string
		ann    json.RawMessage
		want   bool
	}{
		{some, "a", rw, true},
		{some, "b", ro, false},
		{all, "b", ro, true},
		{all, "b", rw, false},
		{all, "b", nil, false},
		{all, "b", json.RawMessage(`{"readOnlyHint":"yes"}`), false},
	} {
		if got := tc.tok.AllowsTool(tc.server, tc.ann); got != tc.want {
			t.Errorf("%+v AllowsTool(%s, %s) = %v, want %v", tc.tok, tc.server, tc.ann, got, tc.want)
		}
	}
}

func TestParseExpires(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "never": 0, "30d": 30 * 24 * time.Hour, "12h": 12 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := ParseExpires(in); err != nil || got != want {
			t.Errorf("ParseExpires(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"d", "-1d", "1.5d", "-3h", "tomorrow", "99999d"} {
		if _, err := ParseExpires(in); err == nil {
			t.Errorf("ParseExpires(%q): no error", in)
		}
	}
}
