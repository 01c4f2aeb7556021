// Package httpauth holds what every HTTP surface of the daemon (the REST
// API, the MCP endpoints, /metrics) checks before it serves a request —
// the Origin and Host a browser sends, the API key, whether the listen
// address is loopback — and the JSON error envelope in which they refuse,
// so that each surface refuses the same things in the same words; and a
// response writer that remembers the status a handler answered with. It
// has no state; everything here is safe for concurrent use, except a
// StatusWriter, which is one handler's.
package httpauth

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// CheckOrigin refuses a request that a browser sent on behalf of a page of
// another origin. Browsers add Origin to cross-origin requests (and to
// same-origin ones other than GET and HEAD) and a page cannot forge it, so
// a foreign Origin means some web site is trying to drive this daemon
// through the user's browser. Requests without Origin — curl, the CLI,
// desktop MCP clients — pass: they are not browsers acting for a page.
//
// The daemon's own origins are the request's Host (scheme http or https;
// the daemon may sit behind a TLS proxy), and http://localhost,
// http://127.0.0.1 and http://[::1] on the same port, so a page opened
// under one loopback name may call the API under another.
//
// This is one of three layers, each catching what the others do not:
//   - CheckOrigin (here; REST, /events and every MCP endpoint): a foreign
//     page's requests, including "simple" POSTs that skip CORS preflight
//     and would otherwise reach a keyless loopback MCP endpoint.
//   - The MCP SDK's DNS-rebinding protection (mcp.StreamableHTTPHandler and
//     mcp.SSEHandler, on by default): a request that arrived on a loopback
//     address with a non-loopback Host is refused with 403. A rebound page
//     is same-origin with itself, so its Origin matches its Host and passes
//     CheckOrigin; its Host is what gives it away. The SDK does no Origin
//     check of its own (its CrossOriginProtection option is nil here), so
//     the two do not overlap or disagree.
//   - The API key, which /api/v1 and /events always need (compared in
//     constant time by KeyMatches), and the MCP endpoints need off
//     loopback: a page, rebound or not, does not know it.
func CheckOrigin(r *http.Request) error {
	for _, origin := range r.Header.Values("Origin") {
		if !ownOrigin(origin, r) {
			return mcpproxy.Errorf(mcpproxy.EFORBIDDEN, "cross-origin request from %s refused", origin)
		}
	}
	return nil
}

// CheckHost refuses a request that arrived on a loopback address under a
// Host that does not name this machine: the mark of a DNS-rebinding page,
// whose own name now resolves to 127.0.0.1. It is the rule the MCP SDK's
// handlers apply to the MCP endpoints, for endpoints that serve without a
// key on loopback (/metrics). A request on any other address passes: there
// the Host is whatever name the daemon is reached by.
func CheckHost(r *http.Request) error {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || local == nil || !loopbackHostPort(local.String()) || loopbackHostPort(r.Host) {
		return nil
	}
	return mcpproxy.Errorf(mcpproxy.EFORBIDDEN, "invalid Host header %q: a request to this daemon on a loopback address must name localhost or a loopback IP", r.Host)
}

// loopbackHostPort reports whether host[:port] names this machine.
func loopbackHostPort(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = strings.Trim(hostport, "[]")
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ownOrigin reports whether origin is one of the daemon's own for r.
func ownOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return false // "null", file://, chrome-extension://, garbage
	}
	reqHost, reqPort := splitHost(r.Host, u.Scheme)
	host, port := splitHost(u.Host, u.Scheme)
	if port != reqPort {
		return false
	}
	if strings.EqualFold(host, reqHost) {
		return true
	}
	return u.Scheme == "http" && (strings.EqualFold(host, "localhost") || host == "127.0.0.1" || host == "::1")
}

// splitHost splits host[:port], filling in the scheme's default port (a
// browser leaves it out of Origin, a client out of Host).
func splitHost(hostport, scheme string) (host, port string) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.Trim(hostport, "[]"), ""
	}
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	return host, port
}

// IsLoopback reports whether a listen address accepts connections only
// from this machine: localhost or a loopback IP. An empty host (":8080")
// listens on every interface and is not loopback.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = listen
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// APIKeyFrom returns the key a request presents: X-API-Key, a bearer token,
// or the apikey query parameter.
func APIKeyFrom(r *http.Request) string {
	if k := r.Header.Get("X-API-Key"); k != "" {
		return k
	}
	if h := r.Header.Get("Authorization"); h != "" {
		if k, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(k)
		}
	}
	return r.URL.Query().Get("apikey")
}

// KeyMatches compares keys in constant time. An empty expected key never
// matches.
func KeyMatches(got, want string) bool {
	if want == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// statusCode maps an application error code to an HTTP status, once.
func statusCode(code string) int {
	switch code {
	case mcpproxy.ENOTFOUND:
		return http.StatusNotFound
	case mcpproxy.EINVALID:
		return http.StatusBadRequest
	case mcpproxy.ECONFLICT:
		return http.StatusConflict
	case mcpproxy.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case mcpproxy.EFORBIDDEN:
		return http.StatusForbidden
	case mcpproxy.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case mcpproxy.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// ErrorBody is the "error" member of the envelope.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// WriteError writes err in the API's error envelope,
// {"success":false,"error":{"code","message","details"}}, with the HTTP
// status of its code.
func WriteError(w http.ResponseWriter, err error) {
	WriteErrorStatus(w, statusCode(mcpproxy.ErrorCode(err)), err)
}

// WriteErrorStatus is WriteError with a status of the caller's choosing
// (405 for a known path with another method, say).
func WriteErrorStatus(w http.ResponseWriter, status int, err error) {
	code := mcpproxy.ErrorCode(err)
	msg := mcpproxy.ErrorMessage(err)
	if code == mcpproxy.EINTERNAL {
		var e *mcpproxy.Error
		if !errors.As(err, &e) {
			slog.Error("api: internal error", "error", err)
		}
	}
	body := ErrorBody{Code: code, Message: msg}
	var e *mcpproxy.Error
	if errors.As(err, &e) {
		body.Details = e.Details
	}
	WriteJSON(w, status, struct {
		Success bool      `json:"success"`
		Error   ErrorBody `json:"error"`
	}{false, body})
}

// WriteJSON writes v as the JSON body of a response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"success":false,"error":{"code":"internal","message":"encoding response failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte{'\n'})
}

// StatusWriter remembers the status a handler answered with. It keeps
// http.Flusher and Unwrap, so streams flush through it as before.
type StatusWriter struct {
	http.ResponseWriter
	status int
}

// Status is the status answered: the first one written, 200 if the
// handler wrote a body or flushed without one, 0 if it wrote nothing.
func (w *StatusWriter) Status() int { return w.status }

func (w *StatusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush flushes the underlying writer if it can; http.ResponseController
// finds it through Unwrap as well.
func (w *StatusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
