//go:build linux

package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// bearerTransport sends an agent token with every request.
type bearerTransport struct{ secret string }

func (t bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.secret)
	return http.DefaultTransport.RoundTrip(r)
}

// tokenSession connects to the daemon's /mcp with an agent token.
func (p *proxy) tokenSession(ctx context.Context, secret string) (*mcp.ClientSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: "token-e2e", Version: "1"}, nil)
	return c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: p.Base + "/mcp", MaxRetries: -1,
		HTTPClient: &http.Client{Transport: bearerTransport{secret}}}, nil)
}

// TestCLI_Token creates a token with the CLI, uses it against /mcp with
// the go-sdk client (it reaches its server's tools, not another's), lists
// it, revokes it, and sees it refused; with require_mcp_auth, a client
// without a token is refused.
func TestCLI_Token(t *testing.T) {
	p := startProxy(t, configJSON(t, []map[string]any{stdio("echo", testupstream.ModeOK), stdio("other", testupstream.ModeOK)},
		"require_mcp_auth", true))
	p.waitState(t, "echo", 30*time.Second, "ready")
	p.waitState(t, "other", 30*time.Second, "ready")

	wantExit(t, p.cli(t, "token", "create", "bot"), 2, "--servers: required")
	wantExit(t, p.cli(t, "token", "create", "bot", "--servers", "echo", "--expires", "soon"), 1, "expires:")

	out := p.ok(t, "token", "create", "bot", "--servers", "echo", "--expires", "30d")
	secret := regexp.MustCompile(`mcpp_[A-Za-z0-9_-]{40,}`).FindString(out)
	if secret == "" || !strings.Contains(out, "only time the secret is shown") {
		t.Fatalf("create printed no secret:\n%s", out)
	}
	wantExit(t, p.cli(t, "token", "create", "bot", "--servers", "other"), 1, `a token named "bot" exists`)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := p.tokenSession(ctx, secret)
	if err != nil {
		t.Fatalf("connect with the token: %v", err)
	}
	defer cs.Close()
	wantCall(t, cs, "echo:echo", map[string]any{"message": "scoped"}, "scoped")
	if text, isErr := callTool(t, cs, "other:echo", map[string]any{"message": "x"}); !isErr || !strings.Contains(text, `may not use server "other"`) {
		t.Errorf("other:echo with the token = %q (error %v), want refused", text, isErr)
	}

	// Without a token, require_mcp_auth refuses.
	code, body := p.request(t, "POST", "/mcp", "")
	if code != http.StatusUnauthorized || !strings.Contains(string(body), "agent token") {
		t.Errorf("no credential: %d %s, want 401", code, body)
	}

	list := p.ok(t, "token", "list")
	if !hasRow(list, "NAME", "SERVERS", "READ-ONLY", "MANAGE", "CREATED", "EXPIRES", "LAST USED") ||
		!regexp.MustCompile(`(?m)^bot +echo +no +no +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\d{4}`).MatchString(list) {
		t.Errorf("token list:\n%s", list)
	}
	if strings.Contains(list, secret) {
		t.Error("token list shows the secret")
	}
	var tokens []apiv1.Token
	p.okJSON(t, &tokens, "token", "list")
	if len(tokens) != 1 || tokens[0].Name != "bot" || tokens[0].LastUsed.IsZero() || tokens[0].ExpiresAt.IsZero() {
		t.Errorf("token list -o json = %+v", tokens)
	}

	// The activity log names the token.
	var page apiv1.ActivityPage
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.okJSON(t, &page, "activity", "list", "--server", "echo", "--kind", "tool_call")
		if len(page.Records) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(page.Records) == 0 || page.Records[0].Client.Token != "bot" {
		t.Errorf("activity records = %+v, want the call named with token bot", page.Records)
	}

	if out := p.ok(t, "token", "revoke", "bot"); !strings.Contains(out, "Revoked agent token bot") {
		t.Errorf("revoke printed %q", out)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "call_tool", Arguments: map[string]any{"name": "echo:echo", "args": map[string]any{"message": "after"}}}); err == nil {
		t.Error("the revoked token's session can still call")
	}
	if cs2, err := p.tokenSession(ctx, secret); err == nil {
		cs2.Close()
		t.Error("a revoked token connects")
	}
	wantExit(t, p.cli(t, "token", "revoke", "bot"), 1, `token "bot" not found`)
	if out := p.ok(t, "token", "list"); !strings.Contains(out, "No agent tokens") {
		t.Errorf("list after revoke:\n%s", out)
	}
}

// TestUI_Tokens drives the Tokens page in headless Chromium: create a
// token (its secret is shown once and works against /mcp), see it listed,
// revoke it through the confirmation dialog.
func TestUI_Tokens(t *testing.T) {
	p := startProxy(t, configJSON(t, []map[string]any{stdio("echo", testupstream.ModeOK)}))
	p.waitState(t, "echo", 30*time.Second, "ready")
	b := newBrowser(t)
	defer b.checkConsole()
	link := p.Base + "/ui/?apikey=" + url.QueryEscape(p.Key)
	b.do("open "+link, chromedp.Navigate(link))
	b.waitText("#live", "live")
	b.click(`#nav a[data-route=tokens]`)
	b.waitText("#main h1", "Agent tokens")
	b.waitJS("the empty list", `!document.querySelector("main .empty").hidden`)

	b.setValue("#token-name", "ui-bot")
	b.setValue("#token-servers", "echo, other")
	b.setValue("#token-expires", "7d")
	b.click("#token-read-only")
	b.click(`#token-form button[type=submit]`)
	b.waitText("#token-secret", "mcpp_")
	secret := b.eval(`document.querySelector("#token-secret").textContent`)
	b.waitText(`tr[data-token="ui-bot"]`, "echo, other")
	row := b.eval(`document.querySelector('tr[data-token="ui-bot"]').innerText`)
	if !strings.Contains(row, "yes") || !strings.Contains(row, "never") || strings.Contains(row, "mcpp_") {
		t.Errorf("token row = %q, want read-only yes, last used never, no secret", row)
	}
	b.screenshot("tokens")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := p.tokenSession(ctx, secret)
	if err != nil {
		t.Fatalf("the secret the UI showed does not connect: %v", err)
	}
	cs.Close()

	// Leaving the page forgets the secret.
	b.click(`#nav a[data-route=activity]`)
	b.click(`#nav a[data-route=tokens]`)
	b.waitText(`tr[data-token="ui-bot"]`, "ui-bot")
	if got := b.eval(`document.body.innerText.includes(` + js(secret) + `) ? "shown" : ""`); got != "" {
		t.Error("the secret is shown again after leaving the page")
	}

	b.click(`tr[data-token="ui-bot"] button[data-action=revoke-token]`)
	b.click("#confirm-ok")
	b.waitJS("the token to go", `document.querySelector('tr[data-token="ui-bot"]') === null`)
	var list []apiv1.Token
	p.okJSON(t, &list, "token", "list")
	if len(list) != 0 {
		t.Errorf("tokens after revoking in the UI: %+v", list)
	}
}
