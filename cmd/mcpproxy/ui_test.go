//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
)

// chromiumPath finds the browser for UI tests: $CHROME_PATH, else the first
// of Chromium's and Chrome's usual names on PATH, else their usual places on
// macOS and Windows. `make browser` installs Debian's Chromium where it can.
func chromiumPath() (string, error) {
	if p := os.Getenv("CHROME_PATH"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("CHROME_PATH: %w", err)
		}
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	for _, p := range []string{
		"/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
		"/Applications/Chromium.app/Contents/MacOS/Chromium",
		`C:\Program Files\Google\Chrome\Application\chrome.exe`,
	} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Chromium or Chrome on PATH; install one (on Debian: make browser) or set CHROME_PATH")
}

// browser is one headless Chromium tab driven over the DevTools protocol.
// It records console errors and uncaught exceptions from the start of the
// tab; the test fails on any.
type browser struct {
	tb        testing.TB
	ctx       context.Context
	artifacts string
	shot      int

	mu       sync.Mutex
	problems []string // console errors and exceptions; guarded by mu
	network  []string // failed requests, logged only; guarded by mu
}

// artifactsDir is where screenshots go: $MCPPROXY_TEST_ARTIFACTS, or
// test-artifacts/ui at the repository root (ignored by git); each test
// writes into a directory of its name there.
func artifactsDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("MCPPROXY_TEST_ARTIFACTS")
	if dir == "" {
		// go test runs in cmd/mcpproxy.
		root, err := filepath.Abs(filepath.Join("..", ".."))
		if err != nil {
			tb.Fatal(err)
		}
		dir = filepath.Join(root, "test-artifacts", "ui")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatalf("artifacts dir: %v", err)
	}
	return dir
}

// newBrowser starts Chromium headless and opens a tab; both are closed at
// cleanup, before the daemon (registered earlier) is stopped.
func newBrowser(tb testing.TB) *browser {
	tb.Helper()
	chromium, err := chromiumPath()
	if err != nil {
		tb.Fatal(err)
	}
	// One directory per test, emptied first, so that each run's
	// screenshots stand alone.
	dir := filepath.Join(artifactsDir(tb), tb.Name())
	if err := os.RemoveAll(dir); err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	b := &browser{tb: tb, artifacts: dir}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1360, 900),
		chromedp.UserDataDir(tb.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(b.listen))
	b.ctx = ctx
	tb.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// Start the browser now, with a context that lives as long as the test.
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start %s: %v", chromium, err)
	}
	return b
}

// listen runs on the tab's event loop: record, never block.
func (b *browser) listen(ev any) {
	var msg string
	network := false
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var args []string
		for _, a := range ev.Args {
			if len(a.Value) > 0 {
				args = append(args, string(a.Value))
			} else {
				args = append(args, a.Description)
			}
		}
		msg = "console." + string(ev.Type) + ": " + strings.Join(args, " ")
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg = "exception: " + d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		msg += fmt.Sprintf(" (%s:%d:%d)", d.URL, d.LineNumber+1, d.ColumnNumber+1)
	case *log.EventEntryAdded:
		// Browser-side errors: CSP violations, failed scripts. A failed
		// request (the 400 of a rejected form) is only logged.
		e := ev.Entry
		if e.Level != log.EntryLevelError {
			return
		}
		msg = "log[" + string(e.Source) + "]: " + e.Text + " " + e.URL
		network = e.Source == log.EntrySourceNetwork
	default:
		return
	}
	b.mu.Lock()
	if network {
		b.network = append(b.network, msg)
	} else {
		b.problems = append(b.problems, msg)
	}
	b.mu.Unlock()
}

// checkConsole fails the test on any console error or exception so far.
func (b *browser) checkConsole() {
	b.tb.Helper()
	b.mu.Lock()
	problems, network := append([]string(nil), b.problems...), append([]string(nil), b.network...)
	b.mu.Unlock()
	for _, n := range network {
		b.tb.Logf("browser: %s", n)
	}
	for _, p := range problems {
		b.tb.Errorf("browser: %s", p)
	}
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail("%s: %v", what, err)
	}
}

// fail stops the test with what the page shows, a screenshot and the
// console problems so far.
func (b *browser) fail(format string, args ...any) {
	b.tb.Helper()
	b.screenshot("failure")
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	b.checkConsole()
	b.tb.Fatalf(format+"\npage:\n%s", append(args, text)...)
}

// js is a Go string as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// waitJS waits until the expression is truthy.
func (b *browser) waitJS(what, expr string) {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(45*time.Second)))
	if err != nil {
		b.fail("waiting for %s (%s): %v", what, expr, err)
	}
}

// waitText waits until the first element matching sel contains text.
func (b *browser) waitText(sel, text string) {
	b.tb.Helper()
	b.waitJS(fmt.Sprintf("%s in %s", js(text), sel),
		fmt.Sprintf(`(document.querySelector(%s)?.textContent ?? "").includes(%s)`, js(sel), js(text)))
}

// click waits for sel and clicks it as a person would, with the mouse.
func (b *browser) click(sel string) {
	b.tb.Helper()
	b.waitJS(sel, fmt.Sprintf(`document.querySelector(%s) !== null`, js(sel)))
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

func (b *browser) eval(expr string) string {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.fail("evaluate %s: %v", expr, err)
	}
	return v
}

// setValue replaces an input's value and tells the page, as typing does.
func (b *browser) setValue(sel, value string) {
	b.tb.Helper()
	b.eval(fmt.Sprintf(`(() => {
		const e = document.querySelector(%s);
		e.value = %s;
		e.dispatchEvent(new Event("input", {bubbles: true}));
		return "";
	})()`, js(sel), js(value)))
}

// strayText finds values rendered by mistake (null, undefined, NaN,
// [object Object]) in the page's text outside preformatted blocks.
const strayText = `(() => {
	const walk = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
	const bad = [];
	for (let n; (n = walk.nextNode());) {
		if (n.parentElement.closest("pre")) continue;
		if (/\b(null|undefined|NaN)\b|\[object Object\]/.test(n.textContent)) bad.push(n.textContent);
	}
	return bad.join(" | ");
})()`

// screenshot checks the page for stray values and saves it whole as
// NN-name.png in the artifacts dir.
func (b *browser) screenshot(name string) {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if name != "failure" {
		if bad := b.eval(strayText); bad != "" {
			b.tb.Errorf("%s page shows stray values: %s", name, bad)
		}
	}
	chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.tb.Logf("screenshot %s: %v", name, err)
		return
	}
	b.shot++
	path := filepath.Join(b.artifacts, fmt.Sprintf("%02d-%s.png", b.shot, name))
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.tb.Errorf("save screenshot: %v", err)
		return
	}
	b.tb.Logf("screenshot: %s", path)
}

// TestUI_Browser drives the web UI in headless Chromium against the real
// daemon: the startup link, the dashboard, live state changes on the
// servers page, the add form's field errors, a live activity record and its
// details, approving a quarantined server and a changed tool (with its
// diff), tool search and a server's detail page.
func TestUI_Browser(t *testing.T) {
	everything := everythingBin(t)
	suspect := stdio("suspect", testupstream.ModeOK)
	suspect["quarantined"] = true
	servers := []map[string]any{
		{"name": "everything", "command": everything},
		{"name": "broken", "command": "mcpproxy-e2e-no-such-command"},
		stdio("alpha", testupstream.ModeOK),
		suspect,
		stdio("rug", testupstream.ModeOK, testupstream.EnvRugPull+"=2"),
	}
	p := startProxy(t, configJSON(t, servers))
	out := waitStdout(t, p, "  ui:")
	wantLink := p.Base + "/ui/?apikey=" + url.QueryEscape(p.Key)
	if !strings.Contains(out, "\n  ui:        "+wantLink+"\n") {
		t.Fatalf("startup block lacks the UI link %s:\n%s", wantLink, out)
	}
	b := newBrowser(t)
	defer b.checkConsole()

	// The startup link: the key moves into storage and out of the address.
	b.do("open "+wantLink, chromedp.Navigate(wantLink))
	b.waitJS("the key to leave the address bar", `location.search === "" && location.pathname === "/ui/"`)
	if got := b.eval(`localStorage.getItem("mcpproxy.apikey") || ""`); got != p.Key {
		t.Errorf("stored key %q, want %q", got, p.Key)
	}

	t.Log("dashboard")
	b.waitText("#live", "live")
	b.waitText("[data-card=ready] .num", "3") // everything, alpha, rug; suspect is quarantined, not started
	b.waitText("[data-card=error] .num", "1")
	b.waitText("#attention li[data-name=broken]", "executable file not found")
	b.waitText("#attention li[data-name=suspect]", "quarantined")
	b.waitText("[data-card=quarantined] .num", "1")
	b.screenshot("dashboard")

	t.Log("servers: disable alpha, see it change without a reload")
	b.eval(`window.e2eMarker = "same page"; ""`)
	b.click(`#nav a[data-route=servers]`)
	b.waitText(`tr[data-name=everything] td.state`, "ready")
	b.waitJS("everything's tools", `Number(document.querySelector('tr[data-name=everything] td.num')?.textContent) >= 10`)
	b.waitText(`tr[data-name=broken] td.state`, "error")
	b.waitText(`tr[data-name=broken] td.err`, "executable file not found")
	b.waitText(`tr[data-name=alpha] td.state`, "ready")
	b.click(`tr[data-name=alpha] button[data-action=disable]`)
	b.waitText(`tr[data-name=alpha] td.state`, "disabled")
	b.waitText(`tr[data-name=alpha] button[data-action=enable]`, "Enable")
	if got := b.eval(`window.e2eMarker || "reloaded"`); got != "same page" {
		t.Errorf("the page reloaded (marker %q); state changes must arrive live", got)
	}
	if s := p.servers(t)["alpha"]; s.Enabled {
		t.Errorf("alpha after Disable in the UI: %+v", s)
	}
	// Filter by name, then by state.
	b.do("filter", chromedp.SendKeys(chromedp.CSS("#filter-name"), "alp"))
	b.waitJS("the name filter", `document.querySelector('tr[data-name=everything]').hidden && !document.querySelector('tr[data-name=alpha]').hidden`)
	b.setValue("#filter-name", "")
	b.waitJS("all rows", `!document.querySelector('tr[data-name=everything]').hidden`)
	b.screenshot("servers")

	t.Log("servers: the add form shows the API's field errors")
	b.click(`#add-server`)
	b.do("fill the form",
		chromedp.SendKeys(chromedp.CSS(`#add-form input[name=name]`), "web"),
		chromedp.SendKeys(chromedp.CSS(`#add-form input[name=url]`), "htp:/x"))
	b.click(`#add-form button[type=submit]`)
	b.waitText(`.field-error[data-for=url]`, `body.url: invalid URL "htp:/x"`)
	b.screenshot("add-server-error")
	b.setValue(`#add-form input[name=url]`, "http://127.0.0.1:9/mcp")
	b.click(`#add-form button[type=submit]`)
	b.waitJS("the new row", `document.querySelector('tr[data-name=web]') !== null && document.querySelector('#add-form').hidden`)
	if _, ok := p.servers(t)["web"]; !ok {
		t.Errorf("server web added in the UI is not listed by the API")
	}

	t.Log("activity: tool calls appear live")
	b.click(`#nav a[data-route=activity]`)
	b.waitJS("the activity table", `document.querySelector('.page.activity tbody') !== null`)
	cs := p.mcpClient(t)
	wantCall(t, cs, "everything:echo", map[string]any{"message": "hello from the e2e test"}, "Echo: hello from the e2e test")
	// Two calls make the rug upstream change echo's description.
	wantCall(t, cs, "rug:echo", map[string]any{"message": "one"}, "one")
	wantCall(t, cs, "rug:echo", map[string]any{"message": "two"}, "two")
	b.waitText(`.page.activity tbody`, "everything:echo")
	b.waitText(`.page.activity tbody`, "rug:echo")
	b.waitText(`.page.activity tbody`, "disable alpha")
	b.screenshot("activity")
	b.click(`.page.activity tbody tr:has(td.what) td.what`) // the newest record
	b.waitText(`#activity-args`, `"message"`)
	b.screenshot("activity-detail")
	b.do("back", chromedp.Evaluate[chromedp.Void](`location.hash = "#/activity?server=everything"`))
	b.waitText(`.page.activity tbody`, "everything:echo")
	b.waitJS("the server filter", `![...document.querySelectorAll('.page.activity td.what')].some(td => td.textContent.startsWith("rug"))`)
	b.click(`.page.activity tbody tr[data-id] td.what`)
	b.waitText(`#activity-args`, "hello from the e2e test")

	t.Log("activity: a call carrying a secret is marked, and its details name the kind, never the value")
	const token = "ghp_0123456789abcdefghijABCDEFGHIJ0123"
	wantCall(t, cs, "everything:echo", map[string]any{"message": "use " + token}, "Echo: use "+token)
	b.do("sensitive only", chromedp.Evaluate[chromedp.Void](`location.hash = "#/activity?sensitive=1"`))
	b.waitJS("the sensitive badge", `document.querySelector('#filter-sensitive').checked && document.querySelector('.page.activity tbody tr[data-id] .badge.sensitive') !== null`)
	if n := b.eval(`String(document.querySelectorAll('.page.activity tbody tr[data-id]').length)`); n != "1" {
		t.Errorf("sensitive filter shows %s records, want 1", n)
	}
	b.screenshot("activity-sensitive")
	b.click(`.page.activity tbody tr[data-id] td.what`)
	b.waitText(`.page.activity-detail dl`, "github_token")
	b.waitText(`#activity-args`, "use ***")
	if shown := b.eval(`document.querySelector('.page.activity-detail').textContent.includes("ghp_") ? "yes" : "no"`); shown != "no" {
		t.Errorf("the activity details show the token")
	}

	t.Log("quarantine: approve the quarantined server, then the changed tool")
	b.click(`#nav a[data-route=quarantine]`)
	b.waitText(`[data-server=suspect]`, "Approve server")
	// The spec under review, with the fingerprint the button approves.
	b.waitText(`[data-server=suspect] .spec`, "Fingerprint")
	b.waitText(`[data-server=suspect] .spec`, suspect["command"].(string))
	b.waitText(`[data-server=suspect] .spec`, "never: a new server")
	b.waitText(`[data-server=rug] [data-tool=echo]`, "changed")
	b.waitJS("the diff", `document.querySelector('[data-server=rug] .diff .del') && document.querySelector('[data-server=rug] .diff .add')`)
	b.waitText(`[data-server=rug] .diff .add`, testupstream.RugPulledDescription)
	b.screenshot("quarantine")
	b.click(`[data-server=suspect] button[data-action=unquarantine]`)
	b.waitJS("suspect released", `document.querySelector('[data-server=suspect]') === null`)
	b.click(`[data-server=rug] [data-tool=echo] button[data-action=approve-tool]`)
	b.waitText(`#waiting`, "Nothing waits for approval.")
	b.waitJS("the nav badge", `document.querySelector('#nav-waiting').hidden`)
	b.screenshot("quarantine-done")
	eventually(t, 30*time.Second, func() error {
		var st struct {
			Quarantined  int `json:"quarantined"`
			PendingTools int `json:"pending_tools"`
		}
		p.data(t, "GET", "/api/v1/status", &st)
		if st.Quarantined != 0 || st.PendingTools != 0 {
			return fmt.Errorf("status after approving in the UI: %+v", st)
		}
		return nil
	})

	t.Log("tool search")
	b.click(`#nav a[data-route=tools]`)
	b.do("search", chromedp.SendKeys(chromedp.CSS(`#search-q`), "echo\n"))
	b.waitText(`#results`, "everything:echo")
	b.waitJS("scores", `[...document.querySelectorAll('#results td.num')].every(td => /^\d+\.\d\d$/.test(td.textContent))`)
	b.waitText(`#results tr[data-id="everything:echo"] td.why`, "echo in name")
	b.waitText(`#results tr[data-id="everything:echo"] td.why`, "covers 100% of the query")
	b.screenshot("tool-search")

	t.Log("server detail")
	b.do("open everything", chromedp.Evaluate[chromedp.Void](`location.hash = "#/servers/everything"`))
	b.waitText(`dl.info`, "stdio")
	b.waitText(`#spec`, everything)
	b.waitText(`#spec`, "Fingerprint")
	b.waitText(`#tools`, "echo")
	b.waitText(`#tools [data-tool=echo]`, "approved")
	b.click(`#tools [data-tool=echo] details.schema summary`)
	b.waitJS("the schema", `document.querySelector('#tools [data-tool=echo] details.schema').open`)
	b.waitText(`#tools [data-tool=echo] details.schema pre`, `"message"`)
	b.click(`#logs-refresh`)
	b.waitJS("the log tail", `document.querySelector('#logs').textContent !== "Loading…"`)
	b.screenshot("server-detail")

	t.Log("connect: each client's entry for this daemon")
	b.click(`#nav a[data-route=connect]`)
	b.waitText(`#mcp-url`, p.Base+"/mcp")
	b.waitText(`[data-client=claude-desktop] pre`, `"mcp-remote"`)
	b.waitText(`[data-client=claude-desktop] pre`, p.Base+"/mcp")
	b.waitText(`[data-client=vscode] pre`, `"type": "http"`)
	b.waitText(`[data-client=codex] pre`, "[mcp_servers.mcpproxy]")
	b.screenshot("connect")

	t.Log("dashboard again: the state after all this")
	b.click(`#nav a[data-route=dashboard]`)
	b.waitText("[data-card=disabled] .num", "1")
	b.waitText("[data-card=quarantined] .num", "0")
	b.waitText("[data-card=pending] .num", "0")
	b.waitJS("recent activity", `document.querySelectorAll('.dashboard tbody tr').length > 0`)
	b.screenshot("dashboard-after")

	t.Log("the key page: forget the key, a wrong one is refused, the right one opens the dashboard")
	b.click("#forget")
	b.waitJS("the key page", `document.querySelector("#apikey") !== null && localStorage.getItem("mcpproxy.apikey") === null`)
	b.waitText("#live", "offline")
	b.do("a wrong key", chromedp.SendKeys(chromedp.CSS("#apikey"), "not-the-key\n"))
	b.waitText("form.login", "The API key was refused")
	b.screenshot("key-page")
	b.do("the right key", chromedp.SendKeys(chromedp.CSS("#apikey"), p.Key+"\n"))
	b.waitText("#live", "live")
	b.waitText("[data-card=total] .num", "6")
	if got := b.eval(`localStorage.getItem("mcpproxy.apikey") || ""`); got != p.Key {
		t.Errorf("stored key after the key page %q, want %q", got, p.Key)
	}
}

// TestUI_ThousandServers: the servers page with 1,000 servers that keep
// failing and retrying, so state events stream in all the time. The rows
// are built once and updated in place by name (a row element survives its
// server's updates), filters work, and a change made elsewhere shows up.
// Nothing here is timed: speed is for benchmarks, not for a test that fails
// on a slow machine.
func TestUI_ThousandServers(t *testing.T) {
	const n = 1000
	servers := make([]map[string]any, n)
	for i := range servers {
		servers[i] = map[string]any{"name": fmt.Sprintf("srv-%04d", i), "command": "mcpproxy-e2e-no-such-command"}
	}
	p := startProxy(t, configJSON(t, servers))
	b := newBrowser(t)
	defer b.checkConsole()
	b.do("open the servers page", chromedp.Navigate(p.Base+"/ui/?apikey="+url.QueryEscape(p.Key)+"#/servers"))
	b.waitJS("1,000 rows", `document.querySelectorAll(".servers-table tbody tr").length === 1000`)
	b.waitText("#shown", "1000 servers")
	b.waitJS("every server in error", `[...document.querySelectorAll(".servers-table td.state .badge:first-child")].every(s => s.textContent === "error")`)
	b.eval(`window.kept = document.querySelector('tr[data-name="srv-0007"]'); ""`)

	// srv-0007 goes disabled and back; srv-0500 stays disabled.
	for _, step := range []struct{ server, action, state string }{
		{"srv-0007", "disable", "disabled"},
		{"srv-0500", "disable", "disabled"},
		{"srv-0007", "enable", "error"},
	} {
		code, body := p.send(t, "POST", "/api/v1/servers/"+step.server+"/"+step.action, "")
		if code != 200 {
			t.Fatalf("%s %s: %d %s", step.action, step.server, code, body)
		}
		b.waitText(`tr[data-name="`+step.server+`"] td.state`, step.state)
	}
	b.waitJS("the same row element, updated in place",
		`window.kept.isConnected && window.kept === document.querySelector('tr[data-name="srv-0007"]') && document.querySelectorAll(".servers-table tbody tr").length === 1000`)

	b.setValue("#filter-name", "srv-09")
	b.waitText("#shown", "100 of 1000 servers")
	b.setValue("#filter-name", "")
	b.do("state filter", chromedp.SetValue(chromedp.CSS("#filter-state"), "disabled"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#filter-state").dispatchEvent(new Event("change")); undefined`))
	b.waitText("#shown", "1 of 1000 servers")
	b.waitJS("only srv-0500 shown", `!document.querySelector('tr[data-name="srv-0500"]').hidden && document.querySelector('tr[data-name="srv-0007"]').hidden`)
	b.screenshot("thousand-servers")

	b.do("dashboard", chromedp.Evaluate[chromedp.Void](`location.hash = "#/"; undefined`))
	b.waitText("[data-card=total] .num", "1000")
	b.waitText("[data-card=disabled] .num", "1")
	b.waitText("#attention-more", "and 979 more")
	b.click(`#attention-more a`)
	b.waitText("#shown", "999 of 1000 servers") // the "needs attention" filter
	b.screenshot("thousand-servers-dashboard")
}

// TestUI_Reconnect: when the daemon goes away the page says so and keeps
// trying, with backoff; when a daemon answers on the same address again,
// the page picks up its state without a reload.
func TestUI_Reconnect(t *testing.T) {
	p := startProxy(t, configJSON(t, []map[string]any{stdio("alpha", testupstream.ModeOK)}))
	b := newBrowser(t)
	defer b.checkConsole()
	b.do("open the UI", chromedp.Navigate(p.Base+"/ui/?apikey="+url.QueryEscape(p.Key)+"#/servers"))
	b.waitText(`tr[data-name=alpha] td.state`, "ready")
	b.eval(`window.e2eMarker = "same page"; ""`)

	p.track(t)
	if err := syscall.Kill(p.PID(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.waitExit(t, 15*time.Second); code != 0 {
		t.Fatalf("daemon exited with %d", code)
	}
	b.waitText("#live", "reconnecting")
	b.screenshot("daemon-gone")

	// The same config and data dir, with alpha now disabled in the file.
	cfg := readConfig(t, p.ConfigPath)
	cfg["mcpServers"].([]any)[0].(map[string]any)["enabled"] = false
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFileLikeEditor(t, p.ConfigPath, data)
	p2 := launch(t, p.Dir, []string{"serve", "-c", p.ConfigPath, "-l", strings.TrimPrefix(p.Base, "http://")})
	p2.waitStarted(t)
	if p2.Base != p.Base {
		t.Fatalf("second daemon on %s, want %s", p2.Base, p.Base)
	}
	b.waitText("#live", "live")
	b.waitText(`tr[data-name=alpha] td.state`, "disabled")
	if got := b.eval(`window.e2eMarker || "reloaded"`); got != "same page" {
		t.Errorf("the page reloaded (marker %q)", got)
	}
	b.screenshot("reconnected")
}

func TestUILink(t *testing.T) {
	tests := []struct{ listen, key, want string }{
		{"127.0.0.1:8080", "abc", "http://127.0.0.1:8080/ui/?apikey=abc"},
		{"localhost:9090", "k", "http://localhost:9090/ui/?apikey=k"},
		{"0.0.0.0:8080", "k", "http://127.0.0.1:8080/ui/?apikey=k"},
		{"[::]:8080", "k", "http://127.0.0.1:8080/ui/?apikey=k"},
		{":8080", "k", "http://127.0.0.1:8080/ui/?apikey=k"},
		{"[::1]:8080", "k", "http://[::1]:8080/ui/?apikey=k"},
		{"192.168.1.5:8080", "a b&c=d/é", "http://192.168.1.5:8080/ui/?apikey=a+b%26c%3Dd%2F%C3%A9"},
	}
	for _, tt := range tests {
		if got := uiLink(tt.listen, tt.key); got != tt.want {
			t.Errorf("uiLink(%q, %q) = %q, want %q", tt.listen, tt.key, got, tt.want)
		}
	}
}
