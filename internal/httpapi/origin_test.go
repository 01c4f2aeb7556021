package httpapi

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// TestAPI_Origin: the API and the event stream refuse a foreign page's
// requests even with the right key; the health checks stay open.
func TestAPI_Origin(t *testing.T) {
	f, ts := newTestAPI(t, srv("a", mcpproxy.StateReady))
	own := ts.URL // http://127.0.0.1:PORT
	port := own[strings.LastIndexByte(own, ':')+1:]
	for _, tc := range []struct {
		method, path, origin string
		want                 int
	}{
		{"GET", "/api/v1/status", "http://evil.example.com", 403},
		{"GET", "/api/v1/servers", "http://localhost:1", 403},
		{"POST", "/api/v1/servers/a/disable", "http://evil.example.com", 403},
		{"DELETE", "/api/v1/servers/a", "null", 403},
		{"GET", "/api/v1/nothing", "http://evil.example.com", 403},
		{"GET", "/events", "http://evil.example.com", 403},
		{"GET", "/events", own, 200},
		{"GET", "/api/v1/status", own, 200},
		{"GET", "/api/v1/status", "http://localhost:" + port, 200},
		{"GET", "/api/v1/status", "", 200},
		{"GET", "/healthz", "http://evil.example.com", 200},
	} {
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, nil)
		req.Header.Set("X-API-Key", testKey)
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body []byte
		if resp.StatusCode != 200 || tc.path != "/events" { // the stream does not end
			body, _ = io.ReadAll(resp.Body)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s Origin %q: %d %s, want %d", tc.method, tc.path, tc.origin, resp.StatusCode, body, tc.want)
			continue
		}
		if tc.want == 403 {
			want := `{"success":false,"error":{"code":"forbidden","message":"cross-origin request from ` + tc.origin + ` refused"}}`
			if got := strings.TrimSpace(string(body)); got != want {
				t.Errorf("%s %s: body %s\nwant %s", tc.method, tc.path, got, want)
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.commands) != 0 {
		t.Errorf("cross-origin requests reached the backend: %v", f.commands)
	}
}
