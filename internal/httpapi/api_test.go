package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
)

const testKey = "test-key"

// fakeBackend is a Backend over a state view, recording commands. Edit
// works on an in-memory config file as the real writer does on disk: the
// document is re-parsed after the edit, and an error changes nothing.
type fakeBackend struct {
	view *stateview.View

	mu       sync.Mutex
	cfg      *config.Config // guarded by mu
	file     []byte         // guarded by mu: the config file Edit changes
	commands []string       // guarded by mu
}

func (f *fakeBackend) View() *stateview.View { return f.view }
func (f *fakeBackend) ConfigVersion() uint64 { return 7 }

func (f *fakeBackend) Config() *config.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg
}

// setPolicy changes the published config, as a reload would.
func (f *fakeBackend) setPolicy(fn func(c *config.Config)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.cfg.Clone()
	fn(c)
	f.cfg = c
}

// setFile replaces the config file and the servers of the published config.
func (f *fakeBackend) setFile(tb testing.TB, data string) {
	tb.Helper()
	cfg, _, err := config.Parse([]byte(data))
	if err != nil {
		tb.Fatalf("setFile: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.file = []byte(data)
	c := f.cfg.Clone()
	c.Servers = cfg.Servers
	f.cfg = c
}

// fileBytes returns the config file as Edit left it.
func (f *fakeBackend) fileBytes() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.file)
}

func (f *fakeBackend) Edit(_ context.Context, fn func(d *config.Document) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := config.ParseDocument(f.file)
	if err != nil {
		return err
	}
	if err := fn(d); err != nil {
		return err
	}
	cfg, _, err := config.Parse(d.Bytes())
	if err != nil {
		return err
	}
	f.file = d.Bytes()
	c := f.cfg.Clone()
	c.Servers = cfg.Servers
	f.cfg = c
	f.commands = append(f.commands, "edit")
	return nil
}

func (f *fakeBackend) record(c string) {
	f.mu.Lock()
	f.commands = append(f.commands, c)
	f.mu.Unlock()
}

func (f *fakeBackend) Restart(name string) error {
	if f.view.Load().Get(name) == nil {
		return mcpproxy.Errorf(mcpproxy.ENOTFOUND, "server %q not found", name)
	}
	f.record("restart " + name)
	return nil
}

func (f *fakeBackend) SetEnabled(_ context.Context, name string, v bool) error {
	if f.view.Load().Get(name) == nil {
		return mcpproxy.Errorf(mcpproxy.ENOTFOUND, "server %q not found", name)
	}
	f.record(fmt.Sprintf("enabled %s %v", name, v))
	return nil
}

func (f *fakeBackend) Logs(name string, n int) ([]string, error) {
	if f.view.Load().Get(name) == nil {
		return nil, mcpproxy.Errorf(mcpproxy.ENOTFOUND, "server %q not found", name)
	}
	return []string{"line 1", "line 2"}[2-min(n, 2):], nil
}

func newTestAPI(tb testing.TB, servers ...*stateview.Server) (*fakeBackend, *httptest.Server) {
	tb.Helper()
	cfg := config.Default()
	cfg.APIKey = testKey
	f := &fakeBackend{view: stateview.New(), cfg: cfg, file: []byte(`{"mcpServers": []}`)}
	for _, s := range servers {
		f.view.Put(s)
	}
	api := New(Options{Backend: f, Version: "test", ConfigPath: "/tmp/c.json", Listen: "127.0.0.1:1", Heartbeat: 50 * time.Millisecond})
	ts := httptest.NewServer(api)
	tb.Cleanup(ts.Close)
	return f, ts
}

func srv(name string, st mcpproxy.ServerState, tools ...string) *stateview.Server {
	s := &stateview.Server{ServerStatus: mcpproxy.ServerStatus{Name: name, Protocol: mcpproxy.ProtocolStdio, Enabled: true, State: st}, Generation: 1}
	for _, t := range tools {
		s.Tools = append(s.Tools, mcpproxy.Tool{Name: t, Description: "does " + t, InputSchema: json.RawMessage(`{"type":"object"}`)})
	}
	s.ToolCount = len(s.Tools)
	return s
}

func do(tb testing.TB, method, url, key string) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, strings.TrimSpace(b.String())
}

func TestAPI_Auth(t *testing.T) {
	_, ts := newTestAPI(t)
	for _, tc := range []struct {
		name string
		req  func() *http.Request
		want int
	}{
		{"NoKey", func() *http.Request { r, _ := http.NewRequest("GET", ts.URL+"/api/v1/status", nil); return r }, 401},
		{"WrongKey", func() *http.Request {
			r, _ := http.NewRequest("GET", ts.URL+"/api/v1/status", nil)
			r.Header.Set("X-API-Key", "nope")
			return r
		}, 401},
		{"Header", func() *http.Request {
			r, _ := http.NewRequest("GET", ts.URL+"/api/v1/status", nil)
			r.Header.Set("X-API-Key", testKey)
			return r
		}, 200},
		{"Bearer", func() *http.Request {
			r, _ := http.NewRequest("GET", ts.URL+"/api/v1/status", nil)
			r.Header.Set("Authorization", "Bearer "+testKey)
			return r
		}, 200},
		{"Query", func() *http.Request {
			r, _ := http.NewRequest("GET", ts.URL+"/api/v1/status?apikey="+testKey, nil)
			return r
		}, 200},
		{"EventsNeedKey", func() *http.Request { r, _ := http.NewRequest("GET", ts.URL+"/events", nil); return r }, 401},
		{"HealthzOpen", func() *http.Request { r, _ := http.NewRequest("GET", ts.URL+"/healthz", nil); return r }, 200},
		{"ReadyzOpen", func() *http.Request { r, _ := http.NewRequest("GET", ts.URL+"/readyz", nil); return r }, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.DefaultClient.Do(tc.req())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	code, body := do(t, "GET", ts.URL+"/api/v1/servers", "")
	want := `{"success":false,"error":{"code":"unauthorized","message":"missing or wrong API key: send it as X-API-Key header or ?apikey="}}`
	if code != 401 || body != want {
		t.Fatalf("got %d %s\nwant 401 %s", code, body, want)
	}
}

func TestAPI_Servers(t *testing.T) {
	_, ts := newTestAPI(t, srv("b", mcpproxy.StateReady, "t1", "t2"), srv("a", mcpproxy.StateError))
	code, body := do(t, "GET", ts.URL+"/api/v1/servers", testKey)
	want := `{"success":true,"data":[` +
		`{"name":"a","protocol":"stdio","enabled":true,"quarantined":false,"state":"error","retry_count":0,"tool_count":0,"pending_tools":0,"blocked_tools":0},` +
		`{"name":"b","protocol":"stdio","enabled":true,"quarantined":false,"state":"ready","retry_count":0,"tool_count":2,"pending_tools":0,"blocked_tools":0}]}`
	if code != 200 || body != want {
		t.Fatalf("got %d %s\nwant 200 %s", code, body, want)
	}
	code, body = do(t, "GET", ts.URL+"/api/v1/servers?state=ready", testKey)
	if code != 200 || !strings.Contains(body, `"name":"b"`) || strings.Contains(body, `"name":"a"`) {
		t.Fatalf("state filter: %d %s", code, body)
	}
	var one struct {
		Data mcpproxy.ServerStatus `json:"data"`
	}
	code, body = do(t, "GET", ts.URL+"/api/v1/servers/b", testKey)
	if err := json.Unmarshal([]byte(body), &one); err != nil || code != 200 {
		t.Fatalf("get b: %d %s %v", code, body, err)
	}
	if len(one.Data.Tools) != 2 || one.Data.Tools[1].Name != "t2" || string(one.Data.Tools[0].InputSchema) != `{"type":"object"}` {
		t.Fatalf("tools not in detail: %s", body)
	}
	code, body = do(t, "GET", ts.URL+"/api/v1/servers/b/tools", testKey)
	if code != 200 || !strings.HasPrefix(body, `{"success":true,"data":[{"name":"t1","description":"does t1","input_schema":{"type":"object"}}`) {
		t.Fatalf("tools: %d %s", code, body)
	}
	code, body = do(t, "GET", ts.URL+"/api/v1/servers/a/tools", testKey)
	if code != 200 || body != `{"success":true,"data":[]}` {
		t.Fatalf("no tools: %d %s", code, body)
	}
}

func TestAPI_Errors(t *testing.T) {
	_, ts := newTestAPI(t, srv("a", mcpproxy.StateReady))
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/api/v1/servers/zz", 404, `{"success":false,"error":{"code":"not_found","message":"server \"zz\" not found"}}`},
		{"POST", "/api/v1/servers/zz/restart", 404, `{"success":false,"error":{"code":"not_found","message":"server \"zz\" not found"}}`},
		{"GET", "/api/v1/servers/a/logs?tail=x", 400, `{"success":false,"error":{"code":"invalid","message":"tail: want a non-negative integer, got \"x\""}}`},
		{"GET", "/api/v1/nothing", 404, `{"success":false,"error":{"code":"not_found","message":"no endpoint GET /api/v1/nothing"}}`},
	} {
		code, body := do(t, tc.method, ts.URL+tc.path, testKey)
		if code != tc.code || body != tc.body {
			t.Errorf("%s %s: got %d %s\nwant %d %s", tc.method, tc.path, code, body, tc.code, tc.body)
		}
	}
}

func TestAPI_Commands(t *testing.T) {
	f, ts := newTestAPI(t, srv("a", mcpproxy.StateReady))
	for _, p := range []string{"/api/v1/servers/a/disable", "/api/v1/servers/a/enable", "/api/v1/servers/a/restart"} {
		if code, body := do(t, "POST", ts.URL+p, testKey); code/100 != 2 || !strings.HasPrefix(body, `{"success":true`) {
			t.Fatalf("%s: %d %s", p, code, body)
		}
	}
	if code, _ := do(t, "GET", ts.URL+"/api/v1/servers/a/restart", testKey); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET restart: %d, want 405", code)
	}
	want := []string{"enabled a false", "enabled a true", "restart a"}
	if !slices.Equal(f.commands, want) {
		t.Fatalf("commands %v, want %v", f.commands, want)
	}
	code, body := do(t, "GET", ts.URL+"/api/v1/servers/a/logs?tail=1", testKey)
	if code != 200 || !strings.Contains(body, `"lines":["line 2"]`) {
		t.Fatalf("logs: %d %s", code, body)
	}
}

func TestAPI_Status(t *testing.T) {
	pending := srv("p", mcpproxy.StateReady, "ok", "new", "changed", "blocked")
	for i, a := range []mcpproxy.Approval{mcpproxy.ApprovalApproved, mcpproxy.ApprovalPending, mcpproxy.ApprovalChanged, mcpproxy.ApprovalBlocked} {
		pending.Tools[i].Approval = a
	}
	stateview.SetTools(pending, pending.Tools)
	quar := srv("q", mcpproxy.StateReady, "t")
	quar.Quarantined = true
	quar.PendingTools = 1
	_, ts := newTestAPI(t, srv("a", mcpproxy.StateReady, "x", "y"), srv("b", mcpproxy.StateReady, "z"), srv("c", mcpproxy.StateConnecting, "stale"), pending, quar)
	var st struct {
		Data apiv1.Status `json:"data"`
	}
	_, body := do(t, "GET", ts.URL+"/api/v1/status", testKey)
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	d := st.Data
	// Usable tools only: not the quarantined server's, not p's waiting or
	// blocked ones.
	if d.Servers != 5 || d.TotalTools != 4 || d.Counts[mcpproxy.StateReady] != 4 || d.Counts[mcpproxy.StateConnecting] != 1 ||
		d.Quarantined != 1 || d.PendingTools != 2 ||
		d.Version != "test" || d.ConfigPath != "/tmp/c.json" || d.ConfigVersion != 7 || d.ConfigError != "" {
		t.Fatalf("status = %+v", d)
	}
}

// readEvents reads SSE events until n have arrived or the stream ends.
func readEvents(tb testing.TB, body *bufio.Reader, n int) []mcpproxy.Event {
	tb.Helper()
	var out []mcpproxy.Event
	for len(out) < n {
		line, err := body.ReadString('\n')
		if err != nil {
			return out
		}
		if d, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
			var ev mcpproxy.Event
			if err := json.Unmarshal([]byte(d), &ev); err != nil {
				tb.Fatalf("bad event %q: %v", d, err)
			}
			out = append(out, ev)
		}
	}
	return out
}

func TestAPI_Events(t *testing.T) {
	f, ts := newTestAPI(t, srv("a", mcpproxy.StateConnecting))
	resp, err := http.Get(ts.URL + "/events?apikey=" + testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	evs := readEvents(t, br, 1)
	if len(evs) != 1 || evs[0].Type != "snapshot" || !strings.Contains(string(evs[0].Data), `"name":"a"`) {
		t.Fatalf("first event = %+v", evs)
	}
	f.view.Update("a", 1, func(s *stateview.Server) { s.State = mcpproxy.StateReady })
	evs = readEvents(t, br, 1)
	if len(evs) != 1 || evs[0].Type != mcpproxy.EventServerStateChanged || evs[0].Server != "a" ||
		!strings.Contains(string(evs[0].Data), `"state":"ready"`) {
		t.Fatalf("second event = %+v", evs)
	}
	// A heartbeat comment arrives while nothing happens.
	deadline := time.Now().Add(5 * time.Second)
	for {
		line, err := br.ReadString('\n')
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("no heartbeat: %v", err)
		}
		if strings.HasPrefix(line, ": heartbeat") {
			break
		}
	}
}

// BenchmarkAPI_Servers measures GET /api/v1/servers with 1,000 servers, 300
// of them stuck connecting, through the handler (no network).
func BenchmarkAPI_Servers(b *testing.B) {
	var servers []*stateview.Server
	for i := range 1000 {
		st := mcpproxy.StateReady
		if i%10 < 3 {
			st = mcpproxy.StateConnecting
		}
		s := srv(fmt.Sprintf("server-%04d", i), st, "read_file", "write_file", "search")
		servers = append(servers, s)
	}
	cfg := config.Default()
	cfg.APIKey = testKey
	f := &fakeBackend{view: stateview.New(), cfg: cfg}
	for _, s := range servers {
		f.view.Put(s)
	}
	api := New(Options{Backend: f})
	req := httptest.NewRequest("GET", "/api/v1/servers", nil)
	req.Header.Set("X-API-Key", testKey)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		api.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
