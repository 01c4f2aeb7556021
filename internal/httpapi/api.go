// Package httpapi serves the REST API under /api/v1, the live event stream
// at /events and the health endpoints. Handlers read the state view's
// current snapshot and never wait on an upstream; commands go to the
// Backend, which returns at once.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/httpauth"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/pinning"
	"github.com/mcpproxy/mcpproxy/internal/readiness"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
)

// Backend is what the API needs from the rest of the daemon.
type Backend interface {
	View() *stateview.View
	Config() *config.Config
	ConfigVersion() uint64
	Restart(name string) error
	SetEnabled(ctx context.Context, name string, enabled bool) error
	Logs(name string, n int) ([]string, error)
	// Edit runs fn on the config file, writes it atomically and applies the
	// result; an error from fn or an invalid result changes nothing.
	Edit(ctx context.Context, fn func(d *config.Document) error) error
}

// Options configures the API handler.
type Options struct {
	Backend    Backend
	Version    string
	ConfigPath string
	// Listen is the address the daemon serves on, as shown in /status.
	Listen string
	// LogDir is where per-server log files live ("" when memory only).
	LogDir string
	Logger *slog.Logger
	// Heartbeat between comments on /events; default 15s.
	Heartbeat time.Duration
	// Ready reports whether the daemon is ready to serve (/readyz).
	Ready func() bool
	// Search runs a tool search for GET /api/v1/tools/search; nil answers
	// unavailable.
	Search func(ctx context.Context, query string, limit int) (any, error)
	// Explain runs the same search for GET /api/v1/tools/search?explain=1,
	// each hit saying which terms and fields its score is made of; nil
	// answers unavailable.
	Explain func(ctx context.Context, query string, limit int) (any, error)
	// Approvals takes quarantine and tool-approval decisions; nil answers
	// unavailable.
	Approvals Approver
	// Activity serves GET /api/v1/activity; nil answers unavailable.
	Activity *activity.Log
	// Auth runs OAuth logins; nil answers unavailable.
	Auth Authenticator
	// Tokens manages agent tokens; nil answers unavailable.
	Tokens TokenAdmin
}

// API is the HTTP handler.
type API struct {
	opts    Options
	b       Backend
	started time.Time
	mux     *http.ServeMux
}

// New returns the handler for /api/v1/, /events, /healthz and /readyz.
func New(opts Options) *API {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	a := &API{opts: opts, b: opts.Backend, started: time.Now(), mux: http.NewServeMux()}
	m := a.mux
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeOK(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("GET /readyz", a.readyz)
	m.Handle("GET /api/v1/status", a.auth(a.status))
	m.Handle("GET /api/v1/servers", a.auth(a.servers))
	m.Handle("POST /api/v1/servers", a.auth(a.allow("add", a.addServer)))
	m.Handle("GET /api/v1/servers/{name}", a.auth(a.server))
	m.Handle("PATCH /api/v1/servers/{name}", a.auth(a.allow("update", a.updateServer)))
	m.Handle("DELETE /api/v1/servers/{name}", a.auth(a.allow("remove", a.removeServer)))
	m.Handle("GET /api/v1/servers/{name}/tools", a.auth(a.tools))
	m.Handle("GET /api/v1/servers/{name}/logs", a.auth(a.logs))
	m.Handle("POST /api/v1/servers/{name}/enable", a.auth(a.allow("enable", a.enable(true))))
	m.Handle("POST /api/v1/servers/{name}/disable", a.auth(a.allow("disable", a.enable(false))))
	m.Handle("POST /api/v1/servers/{name}/restart", a.auth(a.allow("restart", a.restart)))
	m.Handle("GET /api/v1/tools/search", a.auth(a.searchTools))
	m.Handle("GET /api/v1/tools/preflight", a.auth(a.preflight))
	a.securityRoutes(m)
	a.authRoutes(m)
	a.tokenRoutes(m)
	m.Handle("GET /api/v1/activity", a.auth(a.activityList))
	m.Handle("GET /api/v1/activity/{id}", a.auth(a.activityGet))
	m.Handle("GET /events", a.auth(a.events))
	m.Handle("/api/v1/", a.auth(a.notFound))
	return a
}

// notFound answers paths no route matched: 405 when the path exists for
// another method, else 404, both in the envelope.
func (a *API) notFound(w http.ResponseWriter, r *http.Request) error {
	var allowed []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if m == r.Method {
			continue
		}
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pattern := a.mux.Handler(r2); pattern != "/api/v1/" && pattern != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		httpauth.WriteErrorStatus(w, http.StatusMethodNotAllowed,
			mcpproxy.Errorf(mcpproxy.EINVALID, "%s %s: method not allowed (use %s)", r.Method, r.URL.Path, strings.Join(allowed, ", ")))
		return nil
	}
	return mcpproxy.Errorf(mcpproxy.ENOTFOUND, "no endpoint %s %s", r.Method, r.URL.Path)
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// auth refuses cross-origin browser requests, then requests without the
// API key; there is no keyless access to the API or the event stream.
func (a *API) auth(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := httpauth.CheckOrigin(r); err != nil {
			httpauth.WriteError(w, err)
			return
		}
		want := a.b.Config().APIKey
		if !httpauth.KeyMatches(httpauth.APIKeyFrom(r), want) {
			httpauth.WriteError(w, mcpproxy.Errorf(mcpproxy.EUNAUTHORIZED, "missing or wrong API key: send it as X-API-Key header or ?apikey="))
			return
		}
		if r.Method == http.MethodGet || a.opts.Activity == nil {
			if err := h(w, r); err != nil {
				httpauth.WriteError(w, err)
			}
			return
		}
		start := time.Now()
		sw := &httpauth.StatusWriter{ResponseWriter: w}
		// Keep (up to 64 KiB of) the body for the record: it holds the
		// server entry of an add or update.
		body := &limitedBuffer{max: 64 << 10}
		if r.Body != nil {
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.TeeReader(r.Body, body), r.Body}
		}
		err := h(sw, r)
		if err != nil {
			httpauth.WriteError(sw, err)
		}
		status := sw.Status()
		if status == 0 {
			status = http.StatusOK
		}
		a.recordAction(r, body.Bytes(), start, status, err)
	})
}

// limitedBuffer keeps the first max bytes written to it and drops the rest.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// recordAction puts a person's change made over REST (so also from the CLI
// and the UI) in the activity log: the action is the path's last segment
// (enable, unquarantine, approve, …) or, for /servers itself, the method.
func (a *API) recordAction(r *http.Request, body []byte, start time.Time, status int, err error) {
	rest := strings.TrimPrefix(r.URL.Path, "/api/v1/")
	parts := strings.Split(rest, "/")
	server := r.PathValue("name")
	action := parts[len(parts)-1]
	switch {
	case len(parts) >= 3 && parts[len(parts)-2] == "tools":
		action = parts[len(parts)-1] + "_tools" // approve_tools, block_tools
	case parts[0] == "servers" && len(parts) <= 2:
		action = map[string]string{http.MethodPost: "add", http.MethodPatch: "update", http.MethodDelete: "remove"}[r.Method]
	case parts[0] == "tokens":
		// The token's name goes in the arguments; it is not a server.
		action = map[string]string{http.MethodPost: "create_token", http.MethodDelete: "revoke_token"}[r.Method]
		server = ""
		if name := r.PathValue("name"); name != "" {
			body, _ = json.Marshal(map[string]string{"name": name})
		}
	}
	if action == "" {
		action = strings.ToLower(r.Method)
	}
	rec := activity.Record{
		Time: start.UTC(), Kind: activity.KindManagement, Endpoint: "rest",
		Client: activity.Client{Name: "rest", Version: r.UserAgent(), Remote: r.RemoteAddr},
		Server: server, Action: action, Status: activity.StatusOK,
		DurationMS: float64(time.Since(start).Microseconds()) / 1000,
	}
	if len(body) > 0 && json.Valid(body) {
		rec.Arguments = body
		if rec.Server == "" && parts[0] != "tokens" {
			var named struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(body, &named)
			rec.Server = named.Name
		}
	}
	if status >= 400 {
		rec.Status = activity.StatusError
		if status == http.StatusForbidden {
			rec.Status = activity.StatusBlocked
		}
		if err != nil {
			rec.Error = mcpproxy.ErrorMessage(err)
		} else {
			rec.Error = http.StatusText(status)
		}
	}
	a.opts.Activity.Record(rec)
}

func writeOK(w http.ResponseWriter, status int, data any) {
	httpauth.WriteJSON(w, status, struct {
		Success bool `json:"success"`
		Data    any  `json:"data"`
	}{true, data})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if a.opts.Ready != nil && !a.opts.Ready() {
		httpauth.WriteError(w, mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "not ready"))
		return
	}
	writeOK(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (a *API) statusBody() apiv1.Status {
	snap := a.b.View().Load()
	counts, tools := snap.Counts()
	st := apiv1.Status{
		Version:        a.opts.Version,
		StartedAt:      a.started.UTC(),
		UptimeSeconds:  time.Since(a.started).Seconds(),
		Listen:         a.opts.Listen,
		ConfigPath:     a.opts.ConfigPath,
		ConfigVersion:  a.b.ConfigVersion(),
		ConfigError:    snap.ConfigError,
		ConfigWarnings: snap.ConfigWarnings,
		Servers:        snap.Len(),
		Counts:         counts,
		TotalTools:     tools,
	}
	for srv := range snap.All() {
		if srv.Quarantined {
			st.Quarantined++
		} else {
			st.PendingTools += srv.PendingTools
		}
	}
	if snap.ConfigError != "" {
		t := snap.ConfigErrorAt
		st.ConfigErrorAt = &t
	}
	return st
}

func (a *API) status(w http.ResponseWriter, r *http.Request) error {
	writeOK(w, http.StatusOK, a.statusBody())
	return nil
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// servers writes the list by concatenating each server's cached summary, so
// the cost is a memory copy per server, not an encode.
func (a *API) servers(w http.ResponseWriter, r *http.Request) error {
	snap := a.b.View().Load()
	state := mcpproxy.ServerState(r.URL.Query().Get("state"))
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	buf.Reset()
	buf.WriteString(`{"success":true,"data":[`)
	first := true
	for _, name := range snap.Names {
		srv := snap.Get(name)
		if srv == nil || (state != "" && srv.State != state) {
			continue
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		buf.Write(srv.SummaryJSON())
	}
	buf.WriteString("]}\n")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Write(buf.Bytes())
	return nil
}

func (a *API) lookup(r *http.Request) (*stateview.Server, error) {
	name := r.PathValue("name")
	srv := a.b.View().Load().Get(name)
	if srv == nil {
		return nil, mcpproxy.Errorf(mcpproxy.ENOTFOUND, "server %q not found", name)
	}
	return srv, nil
}

func (a *API) server(w http.ResponseWriter, r *http.Request) error {
	srv, err := a.lookup(r)
	if err != nil {
		return err
	}
	d := apiv1.ServerDetail{ServerStatus: srv.ServerStatus}
	if spec, ok := a.b.Config().Server(srv.Name); ok && a.opts.Approvals != nil {
		rv := a.opts.Approvals.ReviewServer(spec)
		d.Review = &rv
	}
	writeOK(w, http.StatusOK, d)
	return nil
}

func (a *API) tools(w http.ResponseWriter, r *http.Request) error {
	srv, err := a.lookup(r)
	if err != nil {
		return err
	}
	writeOK(w, http.StatusOK, pinning.Review(srv, a.pinLookup()))
	return nil
}

func (a *API) logs(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	n := 100
	if s := r.URL.Query().Get("tail"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return mcpproxy.Errorf(mcpproxy.EINVALID, "tail: want a non-negative integer, got %q", s)
		}
		n = v
	}
	lines, err := a.b.Logs(name, n)
	if err != nil {
		return err
	}
	if lines == nil {
		lines = []string{}
	}
	file := ""
	if a.opts.LogDir != "" {
		file = a.opts.LogDir + "/server-" + name + ".log"
	}
	writeOK(w, http.StatusOK, apiv1.Logs{Server: name, Lines: lines, File: file})
	return nil
}

func (a *API) enable(v bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		if err := a.b.SetEnabled(r.Context(), name, v); err != nil {
			return err
		}
		writeOK(w, http.StatusOK, apiv1.Enabled{Server: name, Enabled: v})
		return nil
	}
}

func (a *API) restart(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := a.b.Restart(name); err != nil {
		return err
	}
	writeOK(w, http.StatusAccepted, apiv1.Restarted{Server: name, Restarting: true})
	return nil
}

// preflight says whether each tool of ids (server:tool, comma-separated or
// repeated) can be called now, from the state view alone.
func (a *API) preflight(w http.ResponseWriter, r *http.Request) error {
	var ids []string
	for _, v := range r.URL.Query()["ids"] {
		for id := range strings.SplitSeq(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				ids = append(ids, id)
			}
		}
	}
	switch {
	case len(ids) == 0:
		return mcpproxy.Errorf(mcpproxy.EINVALID, "ids: required: tool ids (server:tool), comma-separated")
	case len(ids) > readiness.MaxIDs:
		return mcpproxy.Errorf(mcpproxy.EINVALID, "ids: at most %d ids, got %d", readiness.MaxIDs, len(ids))
	}
	writeOK(w, http.StatusOK, readiness.Check(a.b.View().Load(), ids))
	return nil
}

func (a *API) searchTools(w http.ResponseWriter, r *http.Request) error {
	if a.opts.Search == nil {
		return mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "tool search is not available")
	}
	q := r.URL.Query()
	limit := 0
	if s := q.Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			return mcpproxy.Errorf(mcpproxy.EINVALID, "limit: want a positive integer, got %q", s)
		}
		limit = v
	}
	search := a.opts.Search
	switch e := q.Get("explain"); e {
	case "", "0", "false":
	case "1", "true":
		if a.opts.Explain == nil {
			return mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "explain: not available")
		}
		search = a.opts.Explain
	default:
		return mcpproxy.Errorf(mcpproxy.EINVALID, "explain: want 1 or 0, got %q", e)
	}
	res, err := search(r.Context(), q.Get("q"), limit)
	if err != nil {
		return err
	}
	writeOK(w, http.StatusOK, res)
	return nil
}
