package webui

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(tb testing.TB, target string, hdr ...string) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec
}

func TestHandler_Assets(t *testing.T) {
	tests := []struct {
		path, ctype, cache, contains string
	}{
		{"/ui/", "text/html; charset=utf-8", "no-cache", "<title>mcpproxy</title>"},
		{"/ui/index.html", "text/html; charset=utf-8", "no-cache", `src="app.js?v=`},
		{"/ui/app.js", "text/javascript; charset=utf-8", "no-cache", "use strict"},
		{"/ui/app.css", "text/css; charset=utf-8", "no-cache", ":root"},
		{"/ui/favicon.svg", "image/svg+xml", "no-cache", "<svg"},
		{"/ui/app.js?v=" + assets["app.js"].version, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "use strict"},
		{"/ui/app.css?v=stale", "text/css; charset=utf-8", "no-cache", ":root"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := get(t, tt.path)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, want 200", rec.Code)
			}
			h := rec.Header()
			if got := h.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type %q, want %q", got, tt.ctype)
			}
			if got := h.Get("Cache-Control"); got != tt.cache {
				t.Errorf("Cache-Control %q, want %q", got, tt.cache)
			}
			if h.Get("ETag") == "" {
				t.Error("no ETag")
			}
			if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if got := h.Get("Referrer-Policy"); got != "no-referrer" {
				t.Errorf("Referrer-Policy %q: the first load's URL carries the API key", got)
			}
			if !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
		})
	}
}

func TestHandler_CSP(t *testing.T) {
	for _, path := range []string{"/ui/", "/ui/app.js", "/ui/nope", "/ui"} {
		csp := get(t, path).Header().Get("Content-Security-Policy")
		if csp != CSP {
			t.Errorf("%s: Content-Security-Policy %q, want %q", path, csp, CSP)
		}
	}
	// The policy itself: self only, no inline or eval anywhere.
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(CSP, want) {
			t.Errorf("CSP lacks %q: %s", want, CSP)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "*", "data:"} {
		if strings.Contains(CSP, bad) {
			t.Errorf("CSP allows %q: %s", bad, CSP)
		}
	}
}

func TestHandler_Redirect(t *testing.T) {
	tests := []struct{ target, location string }{
		{"/ui", "/ui/"},
		{"/ui?apikey=k%26y", "/ui/?apikey=k%26y"},
	}
	for _, tt := range tests {
		rec := get(t, tt.target)
		if rec.Code != http.StatusMovedPermanently {
			t.Errorf("%s: status %d, want 301", tt.target, rec.Code)
		}
		if got := rec.Header().Get("Location"); got != tt.location {
			t.Errorf("%s: Location %q, want %q", tt.target, got, tt.location)
		}
	}
}

func TestHandler_NotFound(t *testing.T) {
	for _, path := range []string{"/ui/nope.js", "/ui/servers/alpha", "/ui/assets/app.js", "/ui/../webui.go", "/other"} {
		if rec := get(t, path); rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, rec.Code)
		}
	}
}

func TestHandler_Methods(t *testing.T) {
	req := httptest.NewRequest("POST", "/ui/", strings.NewReader("x"))
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /ui/: %d, Allow %q; want 405 with GET, HEAD", rec.Code, rec.Header().Get("Allow"))
	}
	req = httptest.NewRequest("HEAD", "/ui/app.css", nil)
	rec = httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD /ui/app.css: %d with %d body bytes", rec.Code, rec.Body.Len())
	}
}

func TestHandler_ETag(t *testing.T) {
	first := get(t, "/ui/app.js")
	etag := first.Header().Get("ETag")
	rec := get(t, "/ui/app.js", "If-None-Match", etag)
	if rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match %s: status %d, want 304", etag, rec.Code)
	}
}

// TestAssets_LocalOnly: the UI must work offline and load nothing from
// another host: no URL with a scheme in the page, the script or the styles,
// and index.html references only files that are embedded.
func TestAssets_LocalOnly(t *testing.T) {
	url := regexp.MustCompile(`(?i:\b(?:https?|wss?|ftp):)?//[a-z0-9-]+(?:\.[a-z0-9-]+)+|(?i:\bhttps?://)|@import|\burl\(`)
	for _, probe := range []string{`<link href="https://fonts.example.org/x.css">`, "fetch('//cdn.example.com/lib.js')", `src: url(font.woff2)`} {
		if !url.MatchString(probe) {
			t.Fatalf("the URL pattern misses %s", probe)
		}
	}
	for _, name := range []string{"index.html", "app.js", "app.css"} {
		body := string(assets[name].body)
		for i, line := range strings.Split(body, "\n") {
			if m := url.FindString(line); m != "" {
				t.Errorf("%s:%d references %q: the UI must load only its own assets\n%s", name, i+1, m, line)
			}
		}
	}
	idx := string(assets["index.html"].body)
	ref := regexp.MustCompile(`(?:src|href)="([^"]*)"`)
	refs := ref.FindAllStringSubmatch(idx, -1)
	if len(refs) < 3 {
		t.Fatalf("index.html has %d src/href references, want the script, the stylesheet and the icon", len(refs))
	}
	for _, m := range refs {
		v := m[1]
		if strings.HasPrefix(v, "#") {
			continue // in-app route
		}
		name, version, _ := strings.Cut(v, "?v=")
		a := assets[name]
		if a == nil {
			t.Errorf("index.html references %q, which is not embedded", v)
			continue
		}
		if version != a.version {
			t.Errorf("index.html references %q without its content version %s", v, a.version)
		}
	}
	for _, bad := range []string{"<script>", "style=", "onclick=", "onload="} {
		if strings.Contains(idx, bad) {
			t.Errorf("index.html contains %q: inline script and style are refused by the CSP", bad)
		}
	}
}

// TestAssets_NoHTMLSinks: app.js never hands strings to the HTML parser;
// upstream-written text (tool descriptions) reaches the page as text only.
func TestAssets_NoHTMLSinks(t *testing.T) {
	js := string(assets["app.js"].body)
	for _, sink := range []string{".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "createContextualFragment"} {
		if strings.Contains(js, sink) {
			t.Errorf("app.js uses %s", sink)
		}
	}
}
