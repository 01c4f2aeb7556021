package supervisor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/supervisor"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/mcpproxy/mcpproxy/internal/upstream"
)

const ok = testupstream.ModeOK

func TestSupervisor_ApplyByDiff(t *testing.T) {
	checkLeaks(t)
	h := newSupervisor(t, nil)
	a := stdioServer("a", ok, nil)
	b := stdioServer("b", ok, nil)
	b.Args = []string{"v1"}
	c := stdioServer("c", ok, nil)
	if ch := h.sup.Apply(configOf(a, b, c)); !slices.Equal(ch.Added, []string{"a", "b", "c"}) {
		t.Errorf("first apply added %v", ch.Added)
	}
	before := map[string]*mcpproxy.ServerStatus{}
	for _, name := range []string{"a", "b", "c"} {
		srv := h.waitState(t, 20*time.Second, name, mcpproxy.StateReady)
		before[name] = &srv.ServerStatus
	}
	h.rec.WaitLast(t, "a", mcpproxy.StateReady)
	eventsBefore := len(h.rec.Statuses("a"))

	b2 := b
	b2.Args = []string{"v2"}
	d := stdioServer("d", ok, nil)
	ch := h.sup.Apply(configOf(a, b2, d))
	if !slices.Equal(ch.Added, []string{"d"}) || !slices.Equal(ch.Removed, []string{"c"}) || !slices.Equal(ch.Changed, []string{"b"}) {
		t.Errorf("changes = %+v, want added [d], removed [c], changed [b]", ch)
	}
	// A removed server leaves the view at once; its process dies soon.
	if h.get("c") != nil {
		t.Error("c is still in the view after Apply returned")
	}
	if names := h.view.Load().Names; !slices.Equal(names, []string{"a", "b", "d"}) {
		t.Errorf("names = %v", names)
	}
	if _, err := h.sup.Logs("c", 10); mcpproxy.ErrorCode(err) != mcpproxy.ENOTFOUND {
		t.Errorf("Logs(c) = %v, want not_found", err)
	}
	h.waitState(t, 20*time.Second, "b", mcpproxy.StateReady)
	waitFor(t, 20*time.Second, func() bool {
		s := h.get("b")
		return s.State == mcpproxy.StateReady && s.PID != before["b"].PID
	}, "b to reconnect with its new args")
	bNew := h.get("b")
	if !bNew.ConnectedAt.After(*before["b"].ConnectedAt) {
		t.Errorf("b connected_at %v, was %v", bNew.ConnectedAt, before["b"].ConnectedAt)
	}
	h.waitState(t, 20*time.Second, "d", mcpproxy.StateReady)

	// a was not touched: same process, same connection, no state events.
	aNow := h.get("a")
	if aNow.State != mcpproxy.StateReady || aNow.PID != before["a"].PID || !aNow.ConnectedAt.Equal(*before["a"].ConnectedAt) {
		t.Errorf("a was restarted: %s pid %d (was %d), connected_at %v (was %v)",
			aNow.State, aNow.PID, before["a"].PID, aNow.ConnectedAt, before["a"].ConnectedAt)
	}
	if n := len(h.rec.Statuses("a")); n != eventsBefore {
		t.Errorf("a got %d state events from an Apply that did not change it", n-eventsBefore)
	}
	if got, err := testupstream.CallText(t, aNow.Session, "echo", map[string]any{"message": "untouched"}); err != nil || got != "untouched" {
		t.Errorf("a echo = %q, %v", got, err)
	}
	for _, name := range []string{"b", "c"} {
		pid := before[name].PID
		waitFor(t, 5*time.Second, func() bool { return processGone(pid) }, "old process of %s (%d) to die", name, pid)
	}
	if got := liveChildren(); len(got) != 3 {
		t.Errorf("%d upstream processes run, want 3 (a, b, d): %v", len(got), got)
	}

	// Re-applying the same config changes nothing.
	if ch := h.sup.Apply(configOf(a, b2, d)); !ch.Empty() {
		t.Errorf("same config: changes %+v", ch)
	}
	if s := h.get("b"); s.PID != bNew.PID {
		t.Errorf("same config restarted b")
	}
}

func TestSupervisor_Lifecycle(t *testing.T) {
	checkLeaks(t)
	h := newSupervisor(t, nil)
	a := stdioServer("a", ok, nil)
	h.sup.Apply(configOf(a))
	first := h.waitState(t, 20*time.Second, "a", mcpproxy.StateReady)
	h.rec.WaitLast(t, "a", mcpproxy.StateReady)

	t.Run("Disable", func(t *testing.T) {
		mark := len(h.rec.Statuses("a"))
		off := a
		off.Enabled = false
		h.sup.Apply(configOf(off))
		srv := h.waitState(t, 10*time.Second, "a", mcpproxy.StateDisabled)
		h.rec.WaitLast(t, "a", mcpproxy.StateDisabled)
		if srv.Session != nil || srv.PID != 0 || srv.Enabled {
			t.Errorf("disabled server: session %v, pid %d, enabled %v", srv.Session, srv.PID, srv.Enabled)
		}
		var states []mcpproxy.ServerState
		for _, st := range h.rec.Statuses("a")[mark:] {
			states = append(states, st.State)
		}
		if !slices.Equal(states, []mcpproxy.ServerState{mcpproxy.StateStopping, mcpproxy.StateDisabled}) {
			t.Errorf("states after disable = %v, want [stopping disabled]", states)
		}
		if !processGone(first.PID) {
			t.Errorf("process %d still runs after the server reported disabled", first.PID)
		}
		if err := h.sup.Restart("a"); mcpproxy.ErrorCode(err) != mcpproxy.ECONFLICT || !strings.Contains(err.Error(), "disabled") {
			t.Errorf("Restart(disabled) = %v, want conflict", err)
		}
	})
	t.Run("Enable", func(t *testing.T) {
		h.sup.Apply(configOf(a))
		srv := h.waitState(t, 20*time.Second, "a", mcpproxy.StateReady)
		if srv.PID == first.PID || srv.PID == 0 {
			t.Errorf("re-enabled pid %d (first %d)", srv.PID, first.PID)
		}
	})
	t.Run("Quarantine", func(t *testing.T) {
		// A quarantined server is stopped: nothing of it runs until a
		// person approves it.
		before := h.get("a")
		q := a
		q.Quarantined = true
		h.sup.Apply(configOf(q))
		srv := h.waitState(t, 10*time.Second, "a", mcpproxy.StateQuarantined)
		if !srv.Quarantined || srv.Session != nil || srv.PID != 0 {
			t.Errorf("quarantined server: quarantined %v, session %v, pid %d", srv.Quarantined, srv.Session != nil, srv.PID)
		}
		waitFor(t, 5*time.Second, func() bool { return processGone(before.PID) }, "the quarantined server's process to die")
		if err := h.sup.Restart("a"); mcpproxy.ErrorCode(err) != mcpproxy.ECONFLICT || !strings.Contains(err.Error(), "quarantined") {
			t.Errorf("Restart(quarantined) = %v, want a conflict naming the quarantine", err)
		}
		h.sup.Apply(configOf(a))
		waitFor(t, 10*time.Second, func() bool { s := h.get("a"); return !s.Quarantined && s.State == mcpproxy.StateReady },
			"a to be released (now %s)", lazyState{h, "a"})
	})
	t.Run("QuarantinedFromStart", func(t *testing.T) {
		q := stdioServer("q", ok, nil)
		q.Quarantined = true
		h.sup.Apply(configOf(q))
		if srv := h.get("q"); srv == nil || !srv.Quarantined || srv.State != mcpproxy.StateQuarantined {
			t.Fatalf("q = %v, want quarantined and not started", srv)
		}
		if h.get("a") != nil {
			t.Error("a is still in the view")
		}
		time.Sleep(200 * time.Millisecond)
		if srv := h.get("q"); srv.State != mcpproxy.StateQuarantined || srv.PID != 0 || srv.ToolCount != 0 {
			t.Errorf("q: state %s, pid %d, %d tools; want not started", srv.State, srv.PID, srv.ToolCount)
		}
		// Disabling and enabling it again does not start it either.
		q.Enabled = false
		h.sup.Apply(configOf(q))
		if srv := h.get("q"); srv.State != mcpproxy.StateDisabled {
			t.Errorf("disabled quarantined q: state %s", srv.State)
		}
		q.Enabled = true
		h.sup.Apply(configOf(q))
		if srv := h.get("q"); srv.State != mcpproxy.StateQuarantined || srv.PID != 0 {
			t.Errorf("re-enabled quarantined q: state %s, pid %d", srv.State, srv.PID)
		}
	})
}

func TestSupervisor_Restart(t *testing.T) {
	checkLeaks(t)
	t.Run("Ready", func(t *testing.T) {
		checkLeaks(t)
		h := newSupervisor(t, nil)
		h.sup.Apply(configOf(stdioServer("a", ok, nil)))
		first := h.waitState(t, 20*time.Second, "a", mcpproxy.StateReady)
		if err := h.sup.Restart("a"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, func() bool {
			s := h.get("a")
			return s.State == mcpproxy.StateReady && s.PID != first.PID
		}, "a new connection (now %s)", lazyState{h, "a"})
		if s := h.get("a"); !s.ConnectedAt.After(*first.ConnectedAt) {
			t.Errorf("connected_at %v, was %v", s.ConnectedAt, first.ConnectedAt)
		}
		waitFor(t, 5*time.Second, func() bool { return processGone(first.PID) }, "the old process to die")
	})
	t.Run("WaitingForRetry", func(t *testing.T) {
		checkLeaks(t)
		h := newSupervisor(t, func(o *supervisor.Options) {
			o.Actor.Backoff = upstream.Backoff{Base: time.Hour, Max: 2 * time.Hour}
		})
		addr := testupstream.ReserveAddr(t)
		h.sup.Apply(configOf(mcpproxy.ServerSpec{Name: "web", Protocol: mcpproxy.ProtocolStreamableHTTP, URL: "http://" + addr + "/mcp", Enabled: true}))
		srv := h.waitState(t, 10*time.Second, "web", mcpproxy.StateError)
		if srv.NextRetryAt == nil || time.Until(*srv.NextRetryAt) < 50*time.Minute {
			t.Fatalf("next_retry_at = %v, want about an hour away", srv.NextRetryAt)
		}
		testupstream.StartStreamableAt(t, addr, testupstream.Options{})
		if err := h.sup.Restart("web"); err != nil {
			t.Fatal(err)
		}
		h.waitState(t, 10*time.Second, "web", mcpproxy.StateReady)
	})
	t.Run("Errors", func(t *testing.T) {
		checkLeaks(t)
		h := newSupervisor(t, nil)
		off := stdioServer("off", ok, nil)
		off.Enabled = false
		h.sup.Apply(configOf(off))
		if err := h.sup.Restart("nope"); mcpproxy.ErrorCode(err) != mcpproxy.ENOTFOUND {
			t.Errorf("Restart(unknown) = %v, want not_found", err)
		}
		if err := h.sup.Restart("off"); mcpproxy.ErrorCode(err) != mcpproxy.ECONFLICT {
			t.Errorf("Restart(disabled) = %v, want conflict", err)
		}
		if _, err := h.sup.Logs("nope", 1); mcpproxy.ErrorCode(err) != mcpproxy.ENOTFOUND {
			t.Errorf("Logs(unknown) = %v, want not_found", err)
		}
		// Without a writer, commands that persist say so.
		if err := h.sup.SetEnabled(context.Background(), "off", true); mcpproxy.ErrorCode(err) != mcpproxy.EUNAVAILABLE {
			t.Errorf("SetEnabled without a writer = %v, want unavailable", err)
		}
		if err := h.sup.SetEnabled(context.Background(), "nope", true); mcpproxy.ErrorCode(err) != mcpproxy.ENOTFOUND {
			t.Errorf("SetEnabled(unknown) = %v, want not_found", err)
		}
		if got := h.get("off").State; got != mcpproxy.StateDisabled {
			t.Errorf("off is %s", got)
		}
	})
}

// configJSON renders servers as a config file in the array form.
func configJSON(tb testing.TB, servers ...mcpproxy.ServerSpec) []byte {
	tb.Helper()
	b, err := json.Marshal(map[string]any{"mcpServers": servers})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestSupervisor_ApplyFile(t *testing.T) {
	checkLeaks(t)
	h := newSupervisor(t, nil)
	good := configJSON(t, stdioServer("a", ok, nil), stdioServer("b", ok, nil))
	h.sup.ApplyFile(good, nil)
	pids := map[string]int{}
	for _, name := range []string{"a", "b"} {
		pids[name] = h.waitState(t, 20*time.Second, name, mcpproxy.StateReady).PID
	}
	waitFor(t, 5*time.Second, func() bool { return h.rec.Count(mcpproxy.EventConfigReloaded, "") == 1 }, "a config.reloaded event")
	running, version := h.sup.Config(), h.sup.ConfigVersion()

	bad := []struct {
		name    string
		data    []byte
		readErr error
		want    string // in the error
	}{
		{"Syntax", []byte(`{"mcpServers": [`), nil, "line 1"},
		{"UnknownProtocol", []byte(`{"mcpServers": [{"name": "a", "command": "x", "protocol": "carrier-pigeon"}]}`), nil, "mcpServers[0].protocol"},
		{"WrongType", []byte(`{"tools_limit": "many", "mcpServers": []}`), nil, "tools_limit"},
		{"DuplicateName", configJSON(t, stdioServer("a", ok, nil), stdioServer("a", ok, nil)), nil, "duplicate"},
		{"ReadError", nil, errors.New("read config: permission denied"), "permission denied"},
		// A typo that would leave a server running that its owner meant to
		// stop is refused, not ignored.
		{"TypoInServer", bytes.Replace(good, []byte(`"name":"a"`), []byte(`"name":"a","enabeld":false`), 1), nil,
			"mcpServers[0].enabeld: unknown field; did you mean enabled?"},
		{"TypoAtTop", append([]byte(`{"tool_limit":3,`), good[1:]...), nil, "tool_limit: unknown field; did you mean tools_limit?"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			errorsBefore := h.rec.Count(mcpproxy.EventConfigError, "")
			h.sup.ApplyFile(tt.data, tt.readErr)
			if h.sup.Config() != running || h.sup.ConfigVersion() != version {
				t.Error("a rejected config replaced the running one")
			}
			snap := h.view.Load()
			if !strings.Contains(snap.ConfigError, tt.want) || snap.ConfigErrorAt.IsZero() {
				t.Errorf("config error = %q at %v, want it to mention %q", snap.ConfigError, snap.ConfigErrorAt, tt.want)
			}
			waitFor(t, 5*time.Second, func() bool {
				return h.rec.Count(mcpproxy.EventConfigError, "") == errorsBefore+1
			}, "a config.error event")
			if ev := h.lastEvent(mcpproxy.EventConfigError); !strings.Contains(string(ev.Data), tt.want) {
				t.Errorf("config.error data = %s, want it to mention %q", ev.Data, tt.want)
			}
			for name, pid := range pids {
				if s := h.get(name); s == nil || s.State != mcpproxy.StateReady || s.PID != pid {
					t.Errorf("%s changed: %s", name, lazyState{h, name})
				}
			}
		})
	}

	reloaded := h.rec.Count(mcpproxy.EventConfigReloaded, "")
	h.sup.ApplyFile(good, nil)
	if snap := h.view.Load(); snap.ConfigError != "" || !snap.ConfigErrorAt.IsZero() {
		t.Errorf("config error %q not cleared by a good config", snap.ConfigError)
	}
	waitFor(t, 5*time.Second, func() bool { return h.rec.Count(mcpproxy.EventConfigReloaded, "") == reloaded+1 }, "config.reloaded")
	if ev := h.lastEvent(mcpproxy.EventConfigReloaded); ev.Data == nil {
		t.Error("config.reloaded has no data")
	}

	// Warnings of an accepted file are in the view and on the bus, and go
	// when the file no longer has them.
	h.sup.ApplyFile(append([]byte(`{"tools_limit":3,"tools_limit":4,`), good[1:]...), nil)
	want := []string{"tools_limit: repeated key, the last one is used"}
	if got := h.view.Load().ConfigWarnings; !slices.Equal(got, want) {
		t.Errorf("config warnings %q, want %q", got, want)
	}
	waitFor(t, 5*time.Second, func() bool { return h.rec.Count(mcpproxy.EventConfigWarnings, "") == 1 }, "a config.warnings event")
	if ev := h.lastEvent(mcpproxy.EventConfigWarnings); !strings.Contains(string(ev.Data), "repeated key") {
		t.Errorf("config.warnings data = %s", ev.Data)
	}
	h.sup.ApplyFile(good, nil)
	if got := h.view.Load().ConfigWarnings; len(got) != 0 {
		t.Errorf("config warnings %q after a clean file", got)
	}
	for name, pid := range pids {
		if s := h.get(name); s.PID != pid {
			t.Errorf("%s restarted by an unchanged config", name)
		}
	}
}

func (h *harness) lastEvent(typ string) mcpproxy.Event {
	var last mcpproxy.Event
	for _, ev := range h.rec.All() {
		if ev.Type == typ {
			last = ev
		}
	}
	return last
}

func TestSupervisor_SetEnabledRewritesMapForm(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	srvA := stdioServer("a", ok, nil)
	srvB := stdioServer("b", ok, nil)
	file := map[string]any{
		"x_custom_top": map[string]any{"keep": true},
		"mcpServers": map[string]any{
			"a": map[string]any{"command": srvA.Command, "env": srvA.Env, "x_note": "keep me"},
			"b": map[string]any{"command": srvB.Command, "env": srvB.Env, "args": []string{"--flag"}},
		},
	}
	data, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	w := config.NewWriter(path)
	t.Cleanup(func() { w.Close() })
	h := newSupervisor(t, func(o *supervisor.Options) { o.Writer = w })
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h.sup.Apply(cfg)
	pidB := h.waitState(t, 20*time.Second, "b", mcpproxy.StateReady).PID
	pidA := h.waitState(t, 20*time.Second, "a", mcpproxy.StateReady).PID

	if err := h.sup.SetEnabled(context.Background(), "a", false); err != nil {
		t.Fatal(err)
	}
	h.waitState(t, 10*time.Second, "a", mcpproxy.StateDisabled)
	if !processGone(pidA) {
		t.Errorf("a's process %d still runs", pidA)
	}
	if s := h.get("b"); s.State != mcpproxy.StateReady || s.PID != pidB {
		t.Errorf("b was touched: %s", lazyState{h, "b"})
	}

	var got struct {
		Top     json.RawMessage              `json:"x_custom_top"`
		Servers []map[string]json.RawMessage `json:"mcpServers"`
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("rewritten file %s: %v (want mcpServers as an array)", raw, err)
	}
	if string(got.Top) != `{"keep":true}` && !strings.Contains(string(got.Top), `"keep": true`) {
		t.Errorf("x_custom_top = %s, want kept", got.Top)
	}
	byName := map[string]map[string]json.RawMessage{}
	for _, e := range got.Servers {
		var name string
		json.Unmarshal(e["name"], &name)
		byName[name] = e
	}
	if len(byName) != 2 || byName["a"] == nil || byName["b"] == nil {
		t.Fatalf("servers in rewritten file: %s", raw)
	}
	if v := string(byName["a"]["enabled"]); v != "false" {
		t.Errorf("a.enabled = %s, want false", v)
	}
	if v := string(byName["a"]["x_note"]); v != `"keep me"` {
		t.Errorf("a.x_note = %s, want kept", v)
	}
	if v, ok := byName["b"]["enabled"]; ok && string(v) != "true" {
		t.Errorf("b.enabled = %s", v)
	}
	if v := string(byName["b"]["args"]); !strings.Contains(v, "--flag") {
		t.Errorf("b.args = %s, want kept", v)
	}
	// The running config is the file's.
	if s, _ := h.sup.Config().Server("a"); s == nil || s.Enabled {
		t.Errorf("running config a = %+v", s)
	}

	if err := h.sup.SetEnabled(context.Background(), "a", true); err != nil {
		t.Fatal(err)
	}
	h.waitState(t, 20*time.Second, "a", mcpproxy.StateReady)
	if err := h.sup.SetEnabled(context.Background(), "zzz", false); mcpproxy.ErrorCode(err) != mcpproxy.ENOTFOUND {
		t.Errorf("SetEnabled(unknown) = %v, want not_found", err)
	}
}

func TestSupervisor_StopEscalatesToKill(t *testing.T) {
	checkLeaks(t)
	h := newSupervisor(t, nil)
	h.sup.Apply(configOf(stdioServer("stubborn", testupstream.ModeIgnoreTerm, nil)))
	pid := h.waitState(t, 20*time.Second, "stubborn", mcpproxy.StateReady).PID
	if d := h.close(t); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if !processGone(pid) {
		t.Errorf("process %d survived Close", pid)
	}
	logs, _ := h.sup.Logs("stubborn", 0)
	if !slices.ContainsFunc(logs, func(l string) bool { return strings.Contains(l, "ignoring terminated") }) {
		t.Errorf("no sign that SIGTERM was tried first; logs: %q", logs)
	}
}

func TestSupervisor_CloseKillsGrandchildren(t *testing.T) {
	checkLeaks(t)
	h := newSupervisor(t, nil)
	h.sup.Apply(configOf(stdioServer("wrapper", testupstream.ModeSpawnChild, nil)))
	pid := h.waitState(t, 20*time.Second, "wrapper", mcpproxy.StateReady).PID
	var gpid int
	waitFor(t, 10*time.Second, func() bool {
		logs, _ := h.sup.Logs("wrapper", 0)
		for _, l := range logs {
			if v, ok := strings.CutPrefix(l, "grandchild pid="); ok {
				gpid, _ = strconv.Atoi(v)
			}
		}
		return gpid != 0
	}, "the grandchild's pid in the logs")
	if processGone(gpid) {
		t.Fatalf("grandchild %d is not running", gpid)
	}
	h.close(t)
	if !processGone(pid) {
		t.Errorf("process %d survived Close", pid)
	}
	waitFor(t, 5*time.Second, func() bool { return processGone(gpid) }, "grandchild %d to die", gpid)
}

func TestSupervisor_StderrFlood(t *testing.T) {
	checkLeaks(t)
	dataDir := t.TempDir()
	h := newSupervisor(t, func(o *supervisor.Options) { o.DataDir = dataDir })
	h.sup.Apply(configOf(stdioServer("loud", testupstream.ModeStderrFlood, nil)))
	srv := h.waitState(t, 20*time.Second, "loud", mcpproxy.StateReady)

	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)

	// Let it write ~15 MB of stderr while we keep calling it.
	const floodLines = 150_000
	lineNo := func() int {
		logs, _ := h.sup.Logs("loud", 1)
		if len(logs) == 0 {
			return 0
		}
		f := strings.Fields(logs[0])
		if len(f) < 4 {
			return 0
		}
		n, _ := strconv.Atoi(f[3])
		return n
	}
	calls := 0
	waitFor(t, 30*time.Second, func() bool {
		if got, err := testupstream.CallText(t, srv.Session, "echo", map[string]any{"message": "over the noise"}); err != nil || got != "over the noise" {
			t.Fatalf("echo during the flood = %q, %v", got, err)
		}
		calls++
		return lineNo() >= floodLines
	}, "%d flood lines (at %v)", floodLines, lazy(func() any { return lineNo() }))
	if s := h.get("loud"); s.State != mcpproxy.StateReady || !s.ConnectedAt.Equal(*srv.ConnectedAt) {
		t.Errorf("the flood disturbed the connection: %s", lazyState{h, "loud"})
	}
	t.Logf("%d echo calls while %d lines were flooded", calls, lineNo())

	logs, err := h.sup.Logs("loud", 10)
	if err != nil || len(logs) != 10 {
		t.Errorf("Logs(10) = %d lines, %v", len(logs), err)
	}
	if all, _ := h.sup.Logs("loud", 0); len(all) > upstream.DefaultLogLines {
		t.Errorf("ring holds %d lines, cap %d", len(all), upstream.DefaultLogLines)
	}
	var now runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&now)
	if grew := int64(now.HeapAlloc) - int64(base.HeapAlloc); grew > 8<<20 {
		t.Errorf("heap grew by %d MB while ~15 MB of stderr went by", grew>>20)
	}
	h.close(t)
	logFile := filepath.Join(dataDir, "logs", "server-loud.log")
	st, err := os.Stat(logFile)
	if err != nil {
		t.Fatalf("log file: %v", err)
	}
	if st.Size() > 11<<20 {
		t.Errorf("log file is %d MB, want it rotated at 10 MB", st.Size()>>20)
	}
}

func TestSupervisor_ManyHangingServers(t *testing.T) {
	checkLeaks(t)
	h := newSupervisor(t, func(o *supervisor.Options) { o.Actor.ConnectTimeout = 30 * time.Second })
	var servers []mcpproxy.ServerSpec
	for i := range 50 {
		servers = append(servers, stdioServer("hang-"+strconv.Itoa(i), testupstream.ModeHang, nil))
	}
	servers = append(servers, stdioServer("ok-1", ok, nil), stdioServer("ok-2", ok, nil))
	start := time.Now()
	h.sup.Apply(configOf(servers...))
	if d := time.Since(start); d > time.Second {
		t.Errorf("Apply of 52 servers took %v", d)
	}

	// reads times 1000 Load+Counts calls; readers take no lock, so this
	// measures only the machine.
	reads := func() (total, worst time.Duration) {
		start := time.Now()
		for range 1000 {
			t0 := time.Now()
			snap := h.view.Load()
			byState, _ := snap.Counts()
			if snap.Len() != 52 || len(byState) == 0 {
				t.Fatalf("snapshot has %d servers", snap.Len())
			}
			worst = max(worst, time.Since(t0))
		}
		return time.Since(start), worst
	}
	// While 52 race-instrumented processes start on a small machine the
	// CPU is saturated, so only log this.
	total, worst := reads()
	t.Logf("1000 Load+Counts while 52 servers start: %v (slowest %v)", total, worst)

	h.waitState(t, 30*time.Second, "ok-1", mcpproxy.StateReady)
	h.waitState(t, 30*time.Second, "ok-2", mcpproxy.StateReady)
	waitFor(t, 30*time.Second, func() bool { return len(liveChildren()) == 52 }, "52 processes (have %v)", lazy(func() any { return len(liveChildren()) }))
	if total, worst := reads(); total > time.Second {
		t.Errorf("1000 Load+Counts with 50 servers hanging took %v (slowest %v)", total, worst)
	}
	byState, tools := h.view.Load().Counts()
	if byState[mcpproxy.StateReady] != 2 || byState[mcpproxy.StateConnecting] != 50 || tools != 12 {
		t.Errorf("counts = %v, tools %d; want 2 ready, 50 connecting, 12 tools", byState, tools)
	}

	if d := h.close(t); d > 5*time.Second {
		t.Errorf("Close with 50 hanging servers took %v", d)
	}
	if got := liveChildren(); len(got) != 0 {
		t.Errorf("%d processes survived Close: %v", len(got), got)
	}
}

// TestSupervisor_GlobalConnectTimeoutReachesRunningServers: a changed
// top-level connect_timeout applies to servers without their own from their
// next connection attempt (here a restart), without re-creating them; a
// server with its own keeps it.
func TestSupervisor_GlobalConnectTimeoutReachesRunningServers(t *testing.T) {
	checkLeaks(t)
	h := newSupervisor(t, func(o *supervisor.Options) { o.Actor.ConnectTimeout = 0 })
	own := stdioServer("own", testupstream.ModeHang, nil)
	own.ConnectTimeout = mcpproxy.Duration(time.Minute)
	servers := map[string]any{"connect_timeout": "1m", "mcpServers": []mcpproxy.ServerSpec{stdioServer("hang", testupstream.ModeHang, nil), own}}
	file := func(timeout string) []byte {
		servers["connect_timeout"] = timeout
		b, err := json.Marshal(servers)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	h.sup.ApplyFile(file("1m"), nil)
	h.waitState(t, 5*time.Second, "hang", mcpproxy.StateConnecting)
	h.waitState(t, 5*time.Second, "own", mcpproxy.StateConnecting)

	h.sup.ApplyFile(file("300ms"), nil)
	for _, name := range []string{"hang", "own"} {
		if err := h.sup.Restart(name); err != nil {
			t.Fatal(err)
		}
	}
	s := h.waitState(t, 10*time.Second, "hang", mcpproxy.StateError)
	if !strings.Contains(s.LastError, "timed out after 300ms") {
		t.Errorf("hang: last error %q, want the new 300ms deadline", s.LastError)
	}
	if s := h.get("own"); s.State != mcpproxy.StateConnecting {
		t.Errorf("own (connect_timeout 1m of its own) is %s: %q", s.State, s.LastError)
	}
}

// TestSupervisor_InitialSettings: before the first Apply, Config reports
// the initial settings (the API key above all: a daemon answering while it
// starts must not refuse the key) and no servers; the first Apply still
// adds and starts every server.
func TestSupervisor_InitialSettings(t *testing.T) {
	checkLeaks(t)
	a := stdioServer("a", ok, nil)
	initial := configOf(a)
	initial.APIKey = "initial-key-0123456789"
	h := newSupervisor(t, func(o *supervisor.Options) { o.Initial = initial })
	if c := h.sup.Config(); c.APIKey != "initial-key-0123456789" || len(c.Servers) != 0 {
		t.Fatalf("before Apply: api key %q, %d servers; want the initial key and none", c.APIKey, len(c.Servers))
	}
	if ch := h.sup.Apply(initial); !slices.Equal(ch.Added, []string{"a"}) {
		t.Errorf("first apply added %v, want [a]", ch.Added)
	}
	h.waitState(t, 20*time.Second, "a", mcpproxy.StateReady)
}
