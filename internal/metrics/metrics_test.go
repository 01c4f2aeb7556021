package metrics

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const testKey = "0123456789abcdef-test"

// scrape GETs /metrics from h with the given headers and returns the status
// and body.
func scrape(tb testing.TB, h http.Handler, target string, hdr map[string]string) (int, string) {
	tb.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func TestMetrics_HandlerAuth(t *testing.T) {
	m := New(Options{View: stateview.New()})
	key := func() string { return testKey }
	for _, c := range []struct {
		name   string
		listen string
		target string
		hdr    map[string]string
		want   int
	}{
		{"LoopbackNoKey", "127.0.0.1:8080", "/metrics", nil, http.StatusOK},
		{"LocalhostNoKey", "localhost:8080", "/metrics", nil, http.StatusOK},
		{"ExposedNoKey", "0.0.0.0:8080", "/metrics", nil, http.StatusUnauthorized},
		{"ExposedWrongKey", "0.0.0.0:8080", "/metrics", map[string]string{"X-API-Key": "wrong"}, http.StatusUnauthorized},
		{"ExposedHeader", "0.0.0.0:8080", "/metrics", map[string]string{"X-API-Key": testKey}, http.StatusOK},
		{"ExposedBearer", "192.168.1.2:8080", "/metrics", map[string]string{"Authorization": "Bearer " + testKey}, http.StatusOK},
		{"ExposedQuery", "[::]:8080", "/metrics?apikey=" + testKey, nil, http.StatusOK},
		{"ForeignOrigin", "127.0.0.1:8080", "/metrics", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := scrape(t, m.Handler(c.listen, key), c.target, c.hdr)
			if code != c.want {
				t.Fatalf("status %d, want %d: %s", code, c.want, body)
			}
			if code == http.StatusOK && !strings.Contains(body, "# TYPE mcpproxy_servers gauge") {
				t.Fatalf("body lacks mcpproxy_servers:\n%s", body)
			}
		})
	}
}

// TestMetrics_HostCheck serves /metrics on 127.0.0.1, as the daemon does
// by default, and checks that a DNS-rebinding request (a foreign Host on
// a loopback connection) is refused as the MCP endpoints refuse it, while
// loopback names pass.
func TestMetrics_HostCheck(t *testing.T) {
	m := New(Options{View: stateview.New()})
	ts := httptest.NewServer(m.Handler("127.0.0.1:0", func() string { return testKey }))
	defer ts.Close()
	_, port, _ := strings.Cut(strings.TrimPrefix(ts.URL, "http://"), ":")
	for _, c := range []struct {
		host string
		want int
	}{
		{"evil.example", http.StatusForbidden},
		{"evil.example:" + port, http.StatusForbidden},
		{"192.168.1.5:" + port, http.StatusForbidden},
		{"localhost:" + port, http.StatusOK},
		{"127.0.0.1:" + port, http.StatusOK},
		{"[::1]:" + port, http.StatusOK},
		{"LOCALHOST", http.StatusOK},
	} {
		req, err := http.NewRequest(http.MethodGet, ts.URL+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = c.host
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("Host %s: %d %s, want %d", c.host, resp.StatusCode, body, c.want)
		}
		if c.want == http.StatusForbidden && (strings.Contains(string(body), "mcpproxy_") || !strings.Contains(string(body), "invalid Host header")) {
			t.Errorf("Host %s: body %s", c.host, body)
		}
	}
}

func TestMetrics_ServersByState(t *testing.T) {
	view := stateview.New()
	m := New(Options{View: view})
	put := func(name string, st mcpproxy.ServerState, quarantined bool) {
		view.Put(&stateview.Server{ServerStatus: mcpproxy.ServerStatus{Name: name, State: st, Enabled: st != mcpproxy.StateDisabled, Quarantined: quarantined}})
	}
	put("a", mcpproxy.StateReady, false)
	put("b", mcpproxy.StateReady, false)
	put("q", mcpproxy.StateReady, true) // quarantine is a flag; q is connected
	_, body := scrape(t, m.Handler("127.0.0.1:1", nil), "/metrics", nil)
	for _, want := range []string{
		`mcpproxy_servers{state="ready"} 3`,
		`mcpproxy_servers{state="disabled"} 0`,
		`mcpproxy_servers_quarantined 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("scrape lacks %q", want)
		}
	}
	put("b", mcpproxy.StateDisabled, false) // disabling moves the gauge at the next scrape
	_, body = scrape(t, m.Handler("127.0.0.1:1", nil), "/metrics", nil)
	for _, want := range []string{`mcpproxy_servers{state="ready"} 2`, `mcpproxy_servers{state="disabled"} 1`} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("after disabling, scrape lacks %q", want)
		}
	}
}

func TestMetrics_EventBus(t *testing.T) {
	view := stateview.New()
	m := New(Options{View: view})
	slow := view.Bus.Subscribe(1)
	fast := view.Bus.Subscribe(16)
	defer fast.Close()
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP mcpproxy_event_subscriber_drops_total Event bus subscribers dropped for falling behind.
# TYPE mcpproxy_event_subscriber_drops_total counter
mcpproxy_event_subscriber_drops_total 0
# HELP mcpproxy_event_subscribers Subscribers of the internal event bus (/events streams, the tool catalog).
# TYPE mcpproxy_event_subscribers gauge
mcpproxy_event_subscribers 2
`), "mcpproxy_event_subscribers", "mcpproxy_event_subscriber_drops_total"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		view.Bus.Publish(mcpproxy.Event{Type: "x"})
	}
	for range slow.C() { // closed once dropped
	}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP mcpproxy_event_subscriber_drops_total Event bus subscribers dropped for falling behind.
# TYPE mcpproxy_event_subscriber_drops_total counter
mcpproxy_event_subscriber_drops_total 1
# HELP mcpproxy_event_subscribers Subscribers of the internal event bus (/events streams, the tool catalog).
# TYPE mcpproxy_event_subscribers gauge
mcpproxy_event_subscribers 1
`), "mcpproxy_event_subscribers", "mcpproxy_event_subscriber_drops_total"); err != nil {
		t.Fatal(err)
	}
}

func TestMetrics_ToolCallLabels(t *testing.T) {
	view := stateview.New()
	view.Put(&stateview.Server{ServerStatus: mcpproxy.ServerStatus{Name: "gh", State: mcpproxy.StateReady,
		Tools: []mcpproxy.Tool{{Name: "search"}}}})
	m := New(Options{View: view})
	m.ToolCall("gh", "search", "ok", time.Millisecond)
	m.ToolCall("gh", "nope", "error", time.Millisecond)
	m.ToolCall("ghost", "x", "error", time.Millisecond)
	for _, c := range []struct {
		server, tool, outcome string
	}{{"gh", "search", "ok"}, {"gh", unknown, "error"}, {unknown, unknown, "error"}} {
		if got := testutil.ToFloat64(m.toolCalls.WithLabelValues(c.server, c.tool, c.outcome)); got != 1 {
			t.Errorf("tool calls %v = %v, want 1", c, got)
		}
	}
}

// TestMetrics_Forget: a removed server's series go, another server's stay.
func TestMetrics_Forget(t *testing.T) {
	view := stateview.New()
	for _, name := range []string{"gone", "kept"} {
		view.Put(&stateview.Server{ServerStatus: mcpproxy.ServerStatus{Name: name, State: mcpproxy.StateReady,
			Tools: []mcpproxy.Tool{{Name: "t"}}}})
	}
	m := New(Options{View: view})
	for _, name := range []string{"gone", "kept"} {
		m.ToolCall(name, "t", "ok", time.Millisecond)
		m.OnConnect(name, true, errors.New("x"))
	}
	m.Forget("gone")
	_, body := scrape(t, m.Handler("127.0.0.1:0", func() string { return testKey }), "/metrics", nil)
	if strings.Contains(body, `server="gone"`) {
		t.Errorf("series of the removed server remain:\n%s", grepLines(body, `server="gone"`))
	}
	for _, name := range []string{"mcpproxy_tool_calls_total", "mcpproxy_tool_call_duration_seconds_count", "mcpproxy_upstream_connect_attempts_total",
		"mcpproxy_upstream_connect_failures_total", "mcpproxy_upstream_reconnects_total"} {
		if !strings.Contains(body, name+`{`) || !strings.Contains(grepLines(body, name+"{"), `server="kept"`) {
			t.Errorf("%s lost the other server's series:\n%s", name, grepLines(body, name))
		}
	}
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestRoute(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/servers":       "/api/v1/",
		"/api/v1/servers/x/log": "/api/v1/",
		"/mcp":                  "/mcp",
		"/mcp/all":              "/mcp/all",
		"/mcp/server/github":    "/mcp/server/{name}",
		"/sse":                  "/sse",
		"/events":               "/events",
		"/ui/":                  "/ui/",
		"/ui/app.js":            "/ui/",
		"/metrics":              "/metrics",
		"/healthz":              "/healthz",
		"/wp-admin/x.php":       "other",
		"/mcp/elsewhere":        "other",
	} {
		if got := Route(path); got != want {
			t.Errorf("Route(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestMetrics_HTTPMiddleware(t *testing.T) {
	m := New(Options{View: stateview.New()})
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/servers/{name}", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusNotFound)
	})
	// A stream: the first event must reach the client before the handler
	// returns, so the wrapper has to pass Flush through.
	release := make(chan struct{})
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: hello\n\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the middleware: %v", err)
		}
		if _, ok := w.(http.Flusher); !ok {
			t.Error("middleware's writer is not an http.Flusher")
		}
		<-release
	})
	ts := httptest.NewServer(m.Middleware(mux))
	defer ts.Close()

	resp, err := http.Get(ts.URL + "/api/v1/servers/github")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := testutil.ToFloat64(m.httpRequests.WithLabelValues("/api/v1/", "404")); got != 1 {
		t.Errorf(`http requests{route="/api/v1/",code="404"} = %v, want 1`, got)
	}

	resp, err = http.Get(ts.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: hello\n" {
		t.Fatalf("first line of the stream = %q, %v", line, err)
	}
	close(release)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The count is taken as the handler returns, before the server ends
	// the body, so the client has seen the end only after it.
	if got := testutil.ToFloat64(m.httpRequests.WithLabelValues("/events", "200")); got != 1 {
		t.Errorf(`http requests{route="/events",code="200"} = %v, want 1`, got)
	}
	if n := testutil.CollectAndCount(m.httpTime); n != 2 {
		t.Errorf("duration histogram has %d series, want 2", n)
	}
}
