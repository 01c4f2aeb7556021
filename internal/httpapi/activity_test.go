package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/store"
)

// newActivityAPI serves the API with an activity log over a fresh database
// (nil log when withLog is false).
func newActivityAPI(tb testing.TB, withLog bool) (*activity.Log, *httptest.Server) {
	tb.Helper()
	var alog *activity.Log
	if withLog {
		db, err := store.Open(tb.TempDir(), store.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		alog, err = activity.Open(db, activity.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { alog.Close() })
	}
	cfg := config.Default()
	cfg.APIKey = testKey
	f := &fakeBackend{view: stateview.New(), cfg: cfg}
	ts := httptest.NewServer(New(Options{Backend: f, Activity: alog}))
	tb.Cleanup(ts.Close)
	return alog, ts
}

type activityPage struct {
	Success bool          `json:"success"`
	Data    activity.Page `json:"data"`
}

func getPage(tb testing.TB, ts *httptest.Server, query string) activity.Page {
	tb.Helper()
	code, body := do(tb, "GET", ts.URL+"/api/v1/activity"+query, testKey)
	var p activityPage
	if err := json.Unmarshal([]byte(body), &p); err != nil || code != 200 || !p.Success {
		tb.Fatalf("GET activity%s: %d %s (%v)", query, code, body, err)
	}
	return p.Data
}

func TestAPI_Activity(t *testing.T) {
	alog, ts := newActivityAPI(t, true)
	now := time.Now().UTC()
	var ids []string
	for _, r := range []activity.Record{
		{Kind: activity.KindToolCall, Endpoint: "/mcp", Server: "gh", Tool: "search", Status: activity.StatusOK, Time: now.Add(-3 * time.Hour),
			Arguments: json.RawMessage(`{"q":"mcp","api_key":"k-123456"}`), Client: activity.Client{Name: "cursor", Version: "1.2"}},
		{Kind: activity.KindToolCall, Endpoint: "/mcp/all", Server: "gh", Tool: "create", Status: activity.StatusToolError, Time: now.Add(-2 * time.Hour)},
		{Kind: activity.KindManagement, Endpoint: "rest", Server: "fs", Action: "restart", Status: activity.StatusOK, Time: now.Add(-30 * time.Minute)},
		{Kind: activity.KindToolCall, Endpoint: "/mcp", Server: "fs", Tool: "read", Status: activity.StatusTimeout, Time: now.Add(-time.Minute),
			Sensitive: &activity.Sensitive{Result: []string{"private_key"}, Action: "flag"}},
	} {
		ids = append(ids, alog.Record(r))
	}
	alog.Flush()

	t.Run("NewestFirst", func(t *testing.T) {
		p := getPage(t, ts, "")
		if len(p.Records) != 4 || p.Records[0].ID != ids[3] || p.Records[3].ID != ids[0] || p.NextCursor != "" {
			t.Fatalf("page = %+v", p)
		}
		if got := string(p.Records[3].Arguments); got != `{"q":"mcp","api_key":"***"}` {
			t.Fatalf("arguments = %s", got)
		}
	})
	for _, tc := range []struct {
		name, query string
		want        []int
	}{
		{"Server", "?server=gh", []int{1, 0}},
		{"Tool", "?tool=read", []int{3}},
		{"Status", "?status=ok", []int{2, 0}},
		{"Kind", "?kind=management", []int{2}},
		{"SinceDuration", "?since=1h", []int{3, 2}},
		{"SinceRFC3339", "?since=" + url.QueryEscape(now.Add(-150*time.Minute).Format(time.RFC3339)), []int{3, 2, 1}},
		{"SinceOffsetUnescaped", "?since=" + now.Add(-150*time.Minute).In(time.FixedZone("", 3600)).Format(time.RFC3339), []int{3, 2, 1}},
		{"Combined", "?server=fs&status=timeout&since=10m", []int{3}},
		{"Sensitive", "?sensitive=1", []int{3}},
		{"SensitiveOff", "?sensitive=0", []int{3, 2, 1, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := getPage(t, ts, tc.query)
			if len(p.Records) != len(tc.want) {
				t.Fatalf("got %d records, want %d: %+v", len(p.Records), len(tc.want), p.Records)
			}
			for i, j := range tc.want {
				if p.Records[i].ID != ids[j] {
					t.Errorf("record %d is %s, want %s", i, p.Records[i].ID, ids[j])
				}
			}
		})
	}
	t.Run("Paging", func(t *testing.T) {
		var got []string
		q := "?limit=3"
		for {
			p := getPage(t, ts, q)
			for _, r := range p.Records {
				got = append(got, r.ID)
			}
			if p.NextCursor == "" {
				break
			}
			q = "?limit=3&cursor=" + p.NextCursor
		}
		want := []string{ids[3], ids[2], ids[1], ids[0]}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("paged %v, want %v", got, want)
		}
	})
	t.Run("Get", func(t *testing.T) {
		code, body := do(t, "GET", ts.URL+"/api/v1/activity/"+ids[2], testKey)
		var got struct {
			Success bool            `json:"success"`
			Data    activity.Record `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 || got.Data.ID != ids[2] ||
			got.Data.Action != "restart" || got.Data.Endpoint != "rest" {
			t.Fatalf("get: %d %s", code, body)
		}
		if !strings.Contains(body, `"kind":"management"`) || !strings.Contains(body, `"client":{}`) {
			t.Fatalf("wire format: %s", body)
		}
	})
}

func TestAPI_ActivityErrors(t *testing.T) {
	_, ts := newActivityAPI(t, true)
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/api/v1/activity/00000000000000000001", 404, `{"success":false,"error":{"code":"not_found","message":"activity record \"00000000000000000001\" not found"}}`},
		{"/api/v1/activity?limit=0", 400, `{"success":false,"error":{"code":"invalid","message":"limit: want an integer from 1 to 1000, got \"0\""}}`},
		{"/api/v1/activity?limit=1001", 400, `{"success":false,"error":{"code":"invalid","message":"limit: want an integer from 1 to 1000, got \"1001\""}}`},
		{"/api/v1/activity?limit=ten", 400, `{"success":false,"error":{"code":"invalid","message":"limit: want an integer from 1 to 1000, got \"ten\""}}`},
		{"/api/v1/activity?since=yesterday", 400, `{"success":false,"error":{"code":"invalid","message":"since: want an RFC 3339 time (2025-01-02T15:04:05Z) or a duration like 1h or 30m, got \"yesterday\""}}`},
		{"/api/v1/activity?since=-1h", 400, `{"success":false,"error":{"code":"invalid","message":"since: want an RFC 3339 time (2025-01-02T15:04:05Z) or a duration like 1h or 30m, got \"-1h\""}}`},
		{"/api/v1/activity?cursor=abc", 400, `{"success":false,"error":{"code":"invalid","message":"cursor: \"abc\" is not an activity record id"}}`},
		{"/api/v1/activity?status=fine", 400, `{"success":false,"error":{"code":"invalid","message":"status: want one of ok, tool_error, error, blocked, timeout, cancelled, got \"fine\""}}`},
		{"/api/v1/activity?sensitive=yes", 400, `{"success":false,"error":{"code":"invalid","message":"sensitive: want 1 or 0, got \"yes\""}}`},
		{"/api/v1/activity?kind=call", 400, `{"success":false,"error":{"code":"invalid","message":"kind: want one of tool_call, management, got \"call\""}}`},
	} {
		code, body := do(t, "GET", ts.URL+tc.path, testKey)
		if code != tc.code || body != tc.body {
			t.Errorf("GET %s: got %d %s\nwant %d %s", tc.path, code, body, tc.code, tc.body)
		}
	}
	for _, p := range []string{"/api/v1/activity", "/api/v1/activity/00000000000000000001"} {
		if code, _ := do(t, "GET", ts.URL+p, ""); code != 401 {
			t.Errorf("GET %s without key: %d, want 401", p, code)
		}
	}
	if code, _ := do(t, "POST", ts.URL+"/api/v1/activity", testKey); code != 405 {
		t.Errorf("POST activity: %d, want 405", code)
	}
	code, body := do(t, "GET", ts.URL+"/api/v1/activity", testKey)
	if code != 200 || body != `{"success":true,"data":{"records":[]}}` {
		t.Errorf("empty log: %d %s", code, body)
	}
}

func TestAPI_ActivityUnavailable(t *testing.T) {
	_, ts := newActivityAPI(t, false)
	want := `{"success":false,"error":{"code":"unavailable","message":"the activity log is not available"}}`
	for _, p := range []string{"/api/v1/activity", "/api/v1/activity/00000000000000000001"} {
		if code, body := do(t, "GET", ts.URL+p, testKey); code != 503 || body != want {
			t.Errorf("GET %s: %d %s", p, code, body)
		}
	}
}
