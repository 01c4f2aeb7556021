package httpapi

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
)

func TestAPI_SearchExplain(t *testing.T) {
	cfg := config.Default()
	cfg.APIKey = testKey
	f := &fakeBackend{view: stateview.New(), cfg: cfg}
	var called []string
	search := func(name string) func(context.Context, string, int) (any, error) {
		return func(_ context.Context, q string, limit int) (any, error) {
			called = append(called, name+":"+q)
			return map[string]string{"by": name}, nil
		}
	}
	ts := httptest.NewServer(New(Options{Backend: f, Search: search("search"), Explain: search("explain")}))
	t.Cleanup(ts.Close)
	plain := httptest.NewServer(New(Options{Backend: f, Search: search("search")}))
	t.Cleanup(plain.Close)

	for _, tt := range []struct {
		name, url string
		code      int
		body      string // substring
		called    string // "" if neither search ran
	}{
		{"Plain", ts.URL + "/api/v1/tools/search?q=read", 200, `"by":"search"`, "search:read"},
		{"ExplainOff", ts.URL + "/api/v1/tools/search?q=read&explain=0", 200, `"by":"search"`, "search:read"},
		{"Explain", ts.URL + "/api/v1/tools/search?q=read&explain=1", 200, `"by":"explain"`, "explain:read"},
		{"ExplainTrue", ts.URL + "/api/v1/tools/search?q=read&explain=true", 200, `"by":"explain"`, "explain:read"},
		{"ExplainBad", ts.URL + "/api/v1/tools/search?q=read&explain=yes", 400, `explain: want 1 or 0`, ""},
		{"ExplainUnavailable", plain.URL + "/api/v1/tools/search?q=read&explain=1", 503, `explain: not available`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			called = nil
			code, body := do(t, "GET", tt.url, testKey)
			if code != tt.code || !strings.Contains(body, tt.body) {
				t.Errorf("GET %s = %d %s; want %d with %s", tt.url, code, body, tt.code, tt.body)
			}
			if got := strings.Join(called, ","); got != tt.called {
				t.Errorf("searches run: %q, want %q", got, tt.called)
			}
		})
	}
}
