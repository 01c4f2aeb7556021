package activity

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/store"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
)

func openDB(tb testing.TB) *store.Store {
	tb.Helper()
	db, err := store.Open(tb.TempDir(), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// openLog opens a log on db; cleanup closes it before db is closed.
func openLog(tb testing.TB, db mcpproxy.Store, opts Options) *Log {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	l, err := Open(db, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// listAll pages through everything matching f, checking that IDs strictly
// descend across pages.
func listAll(tb testing.TB, l *Log, f Filter) []Record {
	tb.Helper()
	var out []Record
	for pages := 0; ; pages++ {
		if pages > 100000 {
			tb.Fatal("pagination does not end")
		}
		p, err := l.List(f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range p.Records {
			if len(out) > 0 && r.ID >= out[len(out)-1].ID {
				tb.Fatalf("ID %s after %s: not strictly descending", r.ID, out[len(out)-1].ID)
			}
			out = append(out, r)
		}
		if p.NextCursor == "" {
			return out
		}
		f.Cursor = p.NextCursor
	}
}

func ids(rs []Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func call(server, tool, status string) Record {
	return Record{Kind: KindToolCall, Endpoint: "/mcp", Server: server, Tool: tool, Status: status,
		Client: Client{Name: "test-client", SessionID: "s1"}, Arguments: json.RawMessage(`{"q":"x"}`)}
}

func TestLog_ConcurrentRecordsStoredOnce(t *testing.T) {
	l := openLog(t, openDB(t), Options{})
	const n = 1000
	got := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got <- l.Record(call(fmt.Sprintf("s%d", i%7), "t", StatusOK)) })
	}
	wg.Wait()
	close(got)
	var want []string
	for id := range got {
		want = append(want, id)
	}
	l.Flush()
	all := listAll(t, l, Filter{Limit: 37})
	if len(all) != n {
		t.Fatalf("listed %d records, want %d", len(all), n)
	}
	slices.Sort(want)
	slices.Reverse(want)
	if !slices.Equal(ids(all), want) {
		t.Fatal("listed IDs differ from the IDs Record returned")
	}
	if d := l.Dropped(); d != 0 {
		t.Fatalf("dropped %d", d)
	}
}

func TestLog_Filters(t *testing.T) {
	l := openLog(t, openDB(t), Options{})
	now := time.Now().UTC()
	recs := []Record{
		{Kind: KindToolCall, Server: "gh", Tool: "search", Status: StatusOK, Time: now.Add(-3 * time.Hour)},
		{Kind: KindToolCall, Server: "gh", Tool: "create", Status: StatusToolError, Time: now.Add(-2 * time.Hour)},
		{Kind: KindToolCall, Server: "fs", Tool: "search", Status: StatusTimeout, Time: now.Add(-90 * time.Minute)},
		{Kind: KindManagement, Server: "fs", Action: "restart", Endpoint: "rest", Status: StatusOK, Time: now.Add(-time.Hour)},
		{Kind: KindToolCall, Server: "fs", Tool: "read", Status: StatusOK, Time: now.Add(-time.Minute)},
	}
	for _, r := range recs {
		l.Record(r)
	}
	l.Flush()
	for _, tc := range []struct {
		name string
		f    Filter
		want []int // indexes into recs, newest first
	}{
		{"All", Filter{}, []int{4, 3, 2, 1, 0}},
		{"Server", Filter{Server: "gh"}, []int{1, 0}},
		{"Tool", Filter{Tool: "search"}, []int{2, 0}},
		{"Status", Filter{Status: StatusOK}, []int{4, 3, 0}},
		{"Kind", Filter{Kind: KindManagement}, []int{3}},
		{"Since", Filter{Since: now.Add(-100 * time.Minute)}, []int{4, 3, 2}},
		{"SinceExact", Filter{Since: now.Add(-time.Hour)}, []int{4, 3}},
		{"Combined", Filter{Server: "fs", Status: StatusOK, Since: now.Add(-2 * time.Hour)}, []int{4, 3}},
		{"NoMatch", Filter{Server: "zz"}, nil},
		{"Paged", Filter{Status: StatusOK, Limit: 1}, []int{4, 3, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := listAll(t, l, tc.f)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d records, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, j := range tc.want {
				w := recs[j]
				if g := got[i]; g.Server != w.Server || g.Tool != w.Tool || g.Status != w.Status || !g.Time.Equal(w.Time) {
					t.Errorf("record %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
	t.Run("LimitStopsWithCursor", func(t *testing.T) {
		p, err := l.List(Filter{Limit: 2})
		if err != nil || len(p.Records) != 2 || p.NextCursor != p.Records[1].ID {
			t.Fatalf("page = %+v, %v", p, err)
		}
		p, err = l.List(Filter{Limit: 5})
		if err != nil || len(p.Records) != 5 || p.NextCursor != "" {
			t.Fatalf("exact page = %+v, %v; want no cursor", p, err)
		}
	})
	t.Run("BadCursor", func(t *testing.T) {
		_, err := l.List(Filter{Cursor: "nope"})
		if mcpproxy.ErrorCode(err) != mcpproxy.EINVALID || !strings.Contains(err.Error(), "cursor") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("CursorBeyondNewest", func(t *testing.T) {
		p, err := l.List(Filter{Cursor: "ffffffffffffffffffff"})
		if err != nil || len(p.Records) != 5 {
			t.Fatalf("page = %+v, %v", p, err)
		}
	})
	t.Run("Get", func(t *testing.T) {
		p, _ := l.List(Filter{Limit: 1})
		r, err := l.Get(p.Records[0].ID)
		if err != nil || r.Tool != "read" || r.Time.Location() != time.UTC {
			t.Fatalf("get = %+v, %v", r, err)
		}
		if _, err := l.Get("0000000000000000beef"); mcpproxy.ErrorCode(err) != mcpproxy.ENOTFOUND {
			t.Fatalf("missing: %v", err)
		}
	})
}

func TestLog_PaginationStableWhileWriting(t *testing.T) {
	l := openLog(t, openDB(t), Options{FlushEvery: time.Millisecond})
	var before []string
	for range 300 {
		before = append(before, l.Record(call("a", "t", StatusOK)))
	}
	l.Flush()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					l.Record(call("b", "t", StatusOK))
					time.Sleep(50 * time.Microsecond)
				}
			}
		})
	}
	var seen []Record
	f := Filter{Limit: 7}
	for {
		p, err := l.List(f)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, p.Records...)
		if p.NextCursor == "" {
			break
		}
		f.Cursor = p.NextCursor
		time.Sleep(100 * time.Microsecond) // let writes land between pages
	}
	close(stop)
	wg.Wait()

	for i := 1; i < len(seen); i++ {
		if seen[i].ID >= seen[i-1].ID {
			t.Fatalf("page order broken at %d: %s then %s", i, seen[i-1].ID, seen[i].ID)
		}
	}
	got := map[string]bool{}
	for _, r := range seen {
		got[r.ID] = true
	}
	for _, id := range before {
		if !got[id] {
			t.Fatalf("record %s written before paging began was skipped", id)
		}
	}
}

func TestLog_Retention(t *testing.T) {
	t.Run("Age", func(t *testing.T) {
		db := openDB(t)
		l := openLog(t, db, Options{RetentionDays: 7})
		now := time.Now()
		var keep []string
		for i := range 20 {
			r := call("a", "t", StatusOK)
			r.Time = now.Add(-time.Duration(i) * 24 * time.Hour / 2) // 0 to 9.5 days old
			id := l.Record(r)
			if i < 14 {
				keep = append(keep, id)
			}
		}
		l.Close()
		// Opening prunes before it takes any request.
		l = openLog(t, db, Options{RetentionDays: 7})
		l.Flush()
		got := ids(listAll(t, l, Filter{}))
		slices.Sort(keep)
		slices.Reverse(keep)
		if !slices.Equal(got, keep) {
			t.Fatalf("kept %d records, want the %d younger than 7 days", len(got), len(keep))
		}
	})
	t.Run("Count", func(t *testing.T) {
		db := openDB(t)
		l := openLog(t, db, Options{MaxRecords: 100})
		var all []string
		for range 250 {
			all = append(all, l.Record(call("a", "t", StatusOK)))
		}
		l.Close()
		l = openLog(t, db, Options{MaxRecords: 100})
		l.Flush()
		got := ids(listAll(t, l, Filter{}))
		slices.Sort(all)
		slices.Reverse(all)
		if !slices.Equal(got, all[:100]) {
			t.Fatalf("kept %d records, want the newest 100", len(got))
		}
	})
	t.Run("Periodic", func(t *testing.T) {
		l := openLog(t, openDB(t), Options{MaxRecords: 10, PruneEvery: 5 * time.Millisecond})
		old := call("a", "t", StatusOK)
		old.Time = time.Now().AddDate(0, 0, -31)
		l.Record(old)
		for range 30 {
			l.Record(call("a", "t", StatusOK))
		}
		l.Flush()
		testupstream.WaitFor(t, 5*time.Second, func() bool {
			return len(listAll(t, l, Filter{})) == 10
		}, "pruning to 10 records")
		for _, r := range listAll(t, l, Filter{}) {
			if r.Time.Before(time.Now().AddDate(0, 0, -30)) {
				t.Fatalf("old record %s survived", r.ID)
			}
		}
	})
	t.Run("BigBacklogInSteps", func(t *testing.T) {
		db := openDB(t)
		// More than one pruning transaction's worth.
		err := db.Update(func(tx mcpproxy.StoreTx) error {
			old := time.Now().AddDate(0, 0, -60)
			for i := range pruneBatch + 500 {
				if err := tx.Put(bucket, []byte(newID(old.Add(time.Duration(i)), 0)), []byte(`{}`)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		l := openLog(t, db, Options{PruneEvery: time.Hour})
		id := l.Record(call("a", "t", StatusOK))
		testupstream.WaitFor(t, 5*time.Second, func() bool {
			l.Flush()
			got := listAll(t, l, Filter{})
			return len(got) == 1 && got[0].ID == id
		}, "the whole backlog to be pruned")
	})
}

func TestLog_Redaction(t *testing.T) {
	const (
		ghToken = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
		jwt     = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
		pem     = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7secretpem\n-----END RSA PRIVATE KEY-----"
		known   = "hunter2-known-value"
	)
	secrets := []string{"pw-in-key", "tok-in-key", "nested-secret", "cookie-val", "apikey-val",
		ghToken, jwt, "MIIEowIBAAKCAQEA7secretpem", known, "sk-proj-abcdefghijklmnopqrstuv", "AKIAABCDEFGHIJKLMNOP",
		"xoxb-1234567890-abcdef", "bearer-token-value-1", "cred-obj"}

	var events []mcpproxy.Event
	var mu sync.Mutex
	db := openDB(t)
	l := openLog(t, db, Options{
		Redact: func(s string) string { return strings.ReplaceAll(s, known, "[known]") },
		Publish: func(ev mcpproxy.Event) {
			mu.Lock()
			events = append(events, ev)
			mu.Unlock()
		},
	})
	args := `{"query":"find repos","password":"pw-in-key","accessToken":"tok-in-key",` +
		`"config":{"client_secret":"nested-secret","Set-Cookie":"cookie-val","x-api-key":"apikey-val",` +
		`"credentials":{"user":"u","pass":"cred-obj"}},` +
		`"list":["` + ghToken + `","` + jwt + `",` + mustJSON(pem) + `],` +
		`"note":"uses ` + known + ` inside","openai":"sk-proj-abcdefghijklmnopqrstuv",` +
		`"aws":"AKIAABCDEFGHIJKLMNOP","slack":"xoxb-1234567890-abcdef","header":"Authorization: Bearer bearer-token-value-1",` +
		`"max_tokens":100,"author":"ann","n":1.50,"ok":true,"nil":null}`
	r := call("gh", "search", StatusError)
	r.Arguments = json.RawMessage(args)
	r.Error = "upstream said 401 for token " + ghToken + " and " + known
	id := l.Record(r)
	l.Flush()

	var raw []byte
	db.View(func(tx mcpproxy.StoreTx) error {
		raw = append(raw, tx.Get(bucket, []byte(id))...)
		return nil
	})
	got, err := l.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	getJSON, _ := json.Marshal(got)
	listJSON, _ := json.Marshal(listAll(t, l, Filter{}))
	mu.Lock()
	if len(events) != 1 || events[0].Type != mcpproxy.EventActivity || events[0].Server != "gh" {
		t.Fatalf("events = %+v", events)
	}
	evJSON := string(events[0].Data)
	mu.Unlock()
	for _, out := range []struct{ name, s string }{{"stored", string(raw)}, {"Get", string(getJSON)}, {"List", string(listJSON)}, {"event", evJSON}} {
		for _, sec := range secrets {
			if strings.Contains(out.s, sec) {
				t.Errorf("%s output contains secret %q:\n%s", out.name, sec, out.s)
			}
		}
	}
	want := `{"query":"find repos","password":"***","accessToken":"***",` +
		`"config":{"client_secret":"***","Set-Cookie":"***","x-api-key":"***","credentials":"***"},` +
		`"list":["***","***","***"],"note":"uses [known] inside","openai":"***","aws":"***","slack":"***",` +
		`"header":"Authorization: Bearer ***","max_tokens":100,"author":"ann","n":1.50,"ok":true,"nil":null}`
	if string(got.Arguments) != want {
		t.Errorf("arguments\n got %s\nwant %s", got.Arguments, want)
	}
	if got.Error != "upstream said 401 for token *** and [known]" {
		t.Errorf("error = %q", got.Error)
	}
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestLog_Truncation(t *testing.T) {
	l := openLog(t, openDB(t), Options{MaxArgBytes: 100})
	long := strings.Repeat("é", 300) // 600 bytes
	for _, tc := range []struct {
		name, args string
		check      func(t *testing.T, got string)
	}{
		{"String", `{"text":"` + long + `","short":"ok"}`, func(t *testing.T, got string) {
			want := `{"text":"` + strings.Repeat("é", 50) + `…(truncated, 600 bytes)","short":"ok"}`
			if got != want {
				t.Fatalf("got %s\nwant %s", got, want)
			}
		}},
		{"WholeArguments", `[` + strings.Repeat(`"`+strings.Repeat("x", 99)+`",`, 400) + `1]`, func(t *testing.T, got string) {
			var s string
			if err := json.Unmarshal([]byte(got), &s); err != nil {
				t.Fatalf("not stored as a string: %v", err)
			}
			if len(got) > maxArgsJSON+64 || !strings.HasSuffix(s, "…(truncated, 40803 bytes)") || !strings.HasPrefix(s, `["xxx`) {
				t.Fatalf("len %d: %.80s … %s", len(got), s, s[max(0, len(s)-40):])
			}
		}},
		{"NotJSON", `not json {"password": ` + long, func(t *testing.T, got string) {
			var s string
			if err := json.Unmarshal([]byte(got), &s); err != nil {
				t.Fatalf("not stored as a string: %v", err)
			}
			if !strings.HasPrefix(s, `not json {"password": é`) || !strings.HasSuffix(s, "…(truncated, 622 bytes)") {
				t.Fatalf("got %q", s)
			}
		}},
		{"NotJSONSecret", `Bearer abcdefghijklmnop`, func(t *testing.T, got string) {
			if got != `"Bearer ***"` {
				t.Fatalf("got %s", got)
			}
		}},
		{"Empty", ``, func(t *testing.T, got string) {
			if got != "" {
				t.Fatalf("got %s", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call("a", "t", StatusOK)
			r.Arguments = json.RawMessage(tc.args)
			id := l.Record(r)
			l.Flush()
			got, err := l.Get(id)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, string(got.Arguments))
		})
	}
	t.Run("Error", func(t *testing.T) {
		r := call("a", "t", StatusError)
		r.Error = long
		id := l.Record(r)
		l.Flush()
		got, _ := l.Get(id)
		if got.Error != strings.Repeat("é", 50)+"…(truncated, 600 bytes)" {
			t.Fatalf("error = %q", got.Error)
		}
	})
}

func TestLog_CloseFlushes(t *testing.T) {
	db := openDB(t)
	l := openLog(t, db, Options{FlushEvery: time.Hour})
	var want []string
	for range 10 {
		want = append(want, l.Record(call("a", "t", StatusOK)))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	var n int
	db.View(func(tx mcpproxy.StoreTx) error {
		n = tx.Len(bucket)
		return nil
	})
	if n != 10 {
		t.Fatalf("stored %d records after Close, want 10", n)
	}
	// Lists still work after Close: the database belongs to the caller.
	slices.Reverse(want)
	if got := ids(listAll(t, l, Filter{})); !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
}

func TestLog_RecordAfterClose(t *testing.T) {
	l := openLog(t, openDB(t), Options{})
	l.Close()
	id := l.Record(call("a", "t", StatusOK))
	l.Flush() // returns at once
	if !validID(id) || l.Dropped() != 1 {
		t.Fatalf("id %q, dropped %d", id, l.Dropped())
	}
	if _, err := l.Get(id); mcpproxy.ErrorCode(err) != mcpproxy.ENOTFOUND {
		t.Fatalf("record after close was stored: %v", err)
	}
}

func TestLog_OpenCloseLeavesNoGoroutine(t *testing.T) {
	testupstream.CheckLeaks(t)
	db := openDB(t)
	for range 3 {
		l := openLog(t, db, Options{FlushEvery: time.Millisecond, PruneEvery: time.Millisecond})
		for range 100 {
			l.Record(call("a", "t", StatusOK))
		}
		l.Flush()
		l.Close()
	}
}

func TestLog_DropsWhenQueueFull(t *testing.T) {
	db := openDB(t)
	const queue = 1000
	var logs lockedBuffer
	l, err := open(db, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, queue)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Hold the write lock so the writer cannot commit and the queue fills.
	held, release, released := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(released)
		db.Update(func(mcpproxy.StoreTx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	const n = queue + 2*maxBatch + 100
	start := time.Now()
	for range n {
		l.Record(call("a", "t", StatusOK))
	}
	elapsed := time.Since(start)
	close(release)
	<-released
	l.Flush()
	if l.Dropped() == 0 {
		t.Fatal("nothing dropped while the writer was stuck")
	}
	stored := len(listAll(t, l, Filter{Limit: MaxLimit}))
	if uint64(stored)+l.Dropped() != n {
		t.Fatalf("stored %d + dropped %d != recorded %d", stored, l.Dropped(), n)
	}
	t.Logf("%d records in %v with the writer stuck; %d dropped", n, elapsed, l.Dropped())
	l.Close()
	if got := logs.String(); strings.Count(got, "records dropped") != 1 || !strings.Contains(got, fmt.Sprintf("dropped_total=%d", l.Dropped())) {
		t.Fatalf("want one warning with the total, logged:\n%s", got)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestNewID_Sorts(t *testing.T) {
	t0 := time.Unix(1700000000, 5)
	for _, tc := range []struct{ older, newer string }{
		{newID(t0, 9), newID(t0.Add(1), 0)},
		{newID(t0, 1), newID(t0, 2)},
		{newID(time.Unix(0, 0), 0), newID(time.Unix(1<<33, 0), 0)},
		{newID(time.Unix(-5, 0), 0), newID(time.Unix(0, 1), 0)},
	} {
		if !validID(tc.older) || !validID(tc.newer) || tc.older >= tc.newer {
			t.Errorf("%s should sort before %s", tc.older, tc.newer)
		}
	}
}

// TestRedactor_OneDetector checks that the log hides what the secret
// package's detector finds and keeps what it does not: the two used to
// disagree (passphrase keys, sk_live_ values, Basic credentials were kept;
// token_count and next_token were hidden).
func TestRedactor_OneDetector(t *testing.T) {
	rd := redactor{maxBytes: 4096}
	for _, tc := range []struct{ in, want string }{
		{`{"passphrase":"correct horse"}`, `{"passphrase":"***"}`},
		{`{"key":"sk_live_51HxYzAbCdEf"}`, `{"key":"***"}`},
		{`{"h":"Authorization: Basic dXNlcjpwYXNz"}`, `{"h":"Authorization: Basic ***"}`},
		{`{"token_count":12,"next_token":"abc123","max_tokens":5,"page_token":"Q2hBS0VnZ0lBUkFBR0FBZ0FBPT0K"}`,
			`{"token_count":12,"next_token":"abc123","max_tokens":5,"page_token":"Q2hBS0VnZ0lBUkFBR0FBZ0FBPT0K"}`},
		{`{"note":"card 4111 1111 1111 1111, order 4111111111111112"}`, `{"note":"card ***, order 4111111111111112"}`},
		{`{"dsn":"postgres://app:s3cr3t-pw@db/app"}`, `{"dsn":"postgres://app:***@db/app"}`},
		{`{"cmd":"export API_KEY=Zx9fQ2mLp8Rt4vWk7Hs"}`, `{"cmd":"export API_KEY=***"}`},
		{`{"t":"the token is ghp_abcdefghijklmnopqrstuvwxyz0123456789."}`, `{"t":"the token is ***."}`},
		{`{"t":" AKIAIOSFODNN7EXAMPLE\n"}`, `{"t":"***"}`},
	} {
		if got := string(rd.args(json.RawMessage(tc.in))); got != tc.want {
			t.Errorf("args(%s)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

// FuzzRedactArgs checks that whatever a client sends, the stored arguments
// are valid JSON within the size cap.
func FuzzRedactArgs(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"password":{"x":[1,2]}}`, `[]`, `"x"`, `not json`, `{"a":"` + strings.Repeat("y", 300) + `"}`, ``, `{"k":"\u00e9\ud83d\ude00"}`} {
		f.Add([]byte(s))
	}
	rd := redactor{maxBytes: 64}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := rd.args(in)
		if out == nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %q from %q", out, in)
		}
		if len(out) > maxArgsJSON+64 {
			t.Fatalf("%d bytes stored", len(out))
		}
	})
}

// BenchmarkRecord measures what Record costs its caller while the queue
// has room (Enqueue: the writer's work is kept outside the timer), and what
// a record costs end to end (Committed: redaction, encoding and the bbolt
// commit included). The queue is flushed before it can fill, and a dropped
// record fails the benchmark: timing a full queue would measure the drop
// path, not logging.
func BenchmarkRecord(b *testing.B) {
	r := call("github", "search_repositories", StatusOK)
	r.Arguments = json.RawMessage(`{"query":"mcp proxy","token":"ghp_abcdefghijklmnopqrstuvwxyz0123456789"}`)
	run := func(b *testing.B, timeFlush bool) {
		l := openLog(b, openDB(b), Options{})
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			l.Record(r)
			if n++; n == queueSize/2 {
				n = 0
				if !timeFlush {
					b.StopTimer()
				}
				l.Flush()
				b.StartTimer()
			}
		}
		if timeFlush {
			l.Flush()
		}
		if d := l.Dropped(); d != 0 {
			b.Fatalf("%d of %d records dropped", d, b.N)
		}
	}
	b.Run("Enqueue", func(b *testing.B) { run(b, false) })
	b.Run("Committed", func(b *testing.B) { run(b, true) })
}

// A long string is scrubbed only as far as it is kept, yet a credential
// crossing the cut is still recognised, and the end of the scrubbed part
// never leaks the start of one.
func TestRedactor_LongText(t *testing.T) {
	rd := redactor{maxBytes: 4096}
	token := "ghp_" + strings.Repeat("a1B2c3", 6)
	t.Run("SecretAcrossTheCut", func(t *testing.T) {
		s := strings.Repeat("x", 4090) + " " + token + strings.Repeat("y", 8<<20)
		start := time.Now()
		got := rd.text(s)
		took := time.Since(start)
		t.Logf("8 MiB string redacted in %v", took)
		if took > 10*time.Second {
			t.Errorf("redacting an 8 MiB string took %v; only its first %d bytes are kept", took, rd.maxBytes)
		}
		if strings.Contains(got, "ghp_") || strings.Contains(got, "a1B2") {
			t.Errorf("token (or part of it) kept: …%q", got[max(0, len(got)-80):])
		}
		if !strings.HasSuffix(got, truncatedNote(len(s))) || !strings.HasPrefix(got, "xxxx") {
			t.Errorf("got %.20q … %q", got, got[max(0, len(got)-60):])
		}
	})
	t.Run("ShrunkBySecrets", func(t *testing.T) {
		s := strings.Repeat("Bearer abcdefghijklmnopqrstuvwxyz0123 ", 1000)
		got := strings.TrimSuffix(rd.text(s), truncatedNote(len(s)))
		// Only the word Bearer (maybe cut), spaces and redactions: no
		// fragment of a token.
		if !regexp.MustCompile(`^(\s|\*\*\*|B(e(a(r(e(r)?)?)?)?)?)*$`).MatchString(got) {
			t.Errorf("kept more than redactions: %q", got)
		}
	})
}
