// Package webui serves the browser dashboard at /ui/: a small hand-written
// single-page app (index.html, app.js, app.css) embedded in the binary. It
// holds no logic of the daemon; the page talks to /api/v1 and /events like
// any other client, with the API key it keeps in the browser's storage.
//
// Concurrency contract: the assets are read-only after package init, so the
// handler is safe for any number of concurrent requests.
package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var embedded embed.FS

// CSP allows nothing but the daemon's own origin: no inline script or
// style, no other hosts, no frames. Tool descriptions shown on the page
// come from upstream servers and may be hostile; the page puts them in the
// DOM as text only, and this policy is the second line if that ever fails.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// asset is one embedded file, ready to serve.
type asset struct {
	body  []byte
	ctype string
	etag  string
	// version is a short hash of body; index.html asks for the other assets
	// as NAME?v=VERSION, and such a request may be cached for good.
	version string
}

var assets = load()

// load reads the embedded files once. index.html gets each asset's
// version appended to its reference, so a new binary busts the caches.
func load() map[string]*asset {
	out := map[string]*asset{}
	err := fs.WalkDir(embedded, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := embedded.ReadFile(p)
		if err != nil {
			return err
		}
		out[strings.TrimPrefix(p, "assets/")] = newAsset(p, b)
		return nil
	})
	if err != nil {
		panic("webui: embedded assets: " + err.Error())
	}
	idx := out["index.html"]
	if idx == nil {
		panic("webui: embedded assets lack index.html")
	}
	body := idx.body
	for name, a := range out {
		if name == "index.html" {
			continue
		}
		body = bytes.ReplaceAll(body, []byte(`"`+name+`"`), []byte(`"`+name+"?v="+a.version+`"`))
	}
	out["index.html"] = newAsset("index.html", body)
	return out
}

func newAsset(name string, b []byte) *asset {
	sum := sha256.Sum256(b)
	v := hex.EncodeToString(sum[:8])
	return &asset{body: b, ctype: contentType(name), etag: `"` + v + `"`, version: v}
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

// Handler serves the UI under /ui/: /ui redirects to /ui/ (keeping the
// query, which may carry ?apikey=), /ui/ is the app, /ui/NAME an asset and
// anything else 404. Routing inside the app uses the URL fragment, so no
// other path needs the index.
//
// index.html is revalidated on every load (Cache-Control: no-cache, with
// an ETag); it names the other assets with their content hash, so those
// are cached as immutable. Every response carries CSP and asks for no
// referrer: the first load's URL holds the API key.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/ui" {
		target := "/ui/"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusMovedPermanently)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/ui/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if name == "" {
		name = "index.html"
	}
	a := assets[name]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	switch {
	case name == "index.html":
		h.Set("Cache-Control", "no-cache")
	case r.URL.Query().Get("v") == a.version:
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	default:
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
