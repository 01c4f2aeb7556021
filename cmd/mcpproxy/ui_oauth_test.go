//go:build linux

package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/mcpproxy/mcpproxy/internal/oauth/oauthtest"
)

// TestUI_OAuthLogin clicks Log in on a server that needs an OAuth login, in
// the servers list and on its page. The new tab follows the authorization
// URL (the test authorization server redirects at once, as after a person's
// consent) to the daemon's loopback listener, and the server turns ready
// on screen.
func TestUI_OAuthLogin(t *testing.T) {
	as := oauthtest.New(t, oauthtest.Options{})
	p := startProxy(t, configJSON(t, []map[string]any{{"name": "remote", "url": as.URL()}}))
	p.waitState(t, "remote", 15*time.Second, "needs_auth")
	b := newBrowser(t)
	defer b.checkConsole()

	b.do("open the UI", chromedp.Navigate(p.Base+"/ui/?apikey="+url.QueryEscape(p.Key)+"#/servers"))
	row := `tr[data-name="remote"]`
	b.waitJS("the Log in button", `(() => { const b = document.querySelector('`+row+` button[data-action="login"]'); return b && !b.hidden; })()`)
	b.waitText(row+" .state", "needs_auth")
	b.screenshot("needs-auth")
	b.click(row + ` button[data-action="login"]`)
	p.waitState(t, "remote", 15*time.Second, "ready")
	b.do("back to the UI's tab", bringToFront)
	b.waitText(row+" .state", "ready")
	b.waitText("#toasts", "remote: logged in")
	if hidden := b.eval(`String(document.querySelector('` + row + ` button[data-action="login"]').hidden)`); hidden != "true" {
		t.Errorf("Log in button still shown on a ready server")
	}
	b.screenshot("logged-in")

	// The server's page: Log out, then Log in again.
	b.do("open the server page", chromedp.Navigate(p.Base+"/ui/#/servers/remote"))
	b.waitText("dl.info", "ready")
	clickRedrawn(b, `.actions button[data-action="logout"]`)
	b.waitJS("the page's Log in button", `document.querySelector('.actions button[data-action="login"]') !== null`)
	p.waitState(t, "remote", 5*time.Second, "needs_auth")
	b.waitText("dl.info", "needs_auth")
	clickRedrawn(b, `.actions button[data-action="login"]`)
	p.waitState(t, "remote", 15*time.Second, "ready")
	b.do("back to the UI's tab", bringToFront)
	b.waitJS("ready on the server page", `document.querySelector('.actions button[data-action="logout"]') !== null`)
	if as.Clients() != 2 {
		t.Errorf("%d clients registered, want 2 (logout forgets the first)", as.Clients())
	}
}

// bringToFront activates the test's tab again after the UI opened another
// (a background tab's timers are throttled, so polling it would stall).
func bringToFront(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
	_, err := cdp.Call(ctx, t, page.BringToFront, cdp.Empty{})
	return chromedp.Void{}, err
}

// clickRedrawn clicks a button of the server page's head, which is redrawn
// whenever the server changes: a click that lands between finding the
// button and pressing it is tried again.
func clickRedrawn(b *browser, sel string) {
	b.tb.Helper()
	for i := 0; ; i++ {
		b.waitJS(sel, `document.querySelector(`+js(sel)+`) !== null`)
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel)))
		cancel()
		if err == nil {
			return
		}
		if i == 4 || !strings.Contains(err.Error(), "Could not find node") {
			b.fail("click %s: %v", sel, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
