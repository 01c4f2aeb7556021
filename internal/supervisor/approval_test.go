package supervisor_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/pinning"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/store"
	"github.com/mcpproxy/mcpproxy/internal/supervisor"
)

// pinStore is a store holding tool pins, reopenable to simulate a daemon
// restart.
type pinStore struct {
	dir  string
	db   *store.Store
	pins *pinning.Pins
}

func newPinStore(tb testing.TB) *pinStore {
	tb.Helper()
	ps := &pinStore{dir: tb.TempDir()}
	ps.open(tb)
	tb.Cleanup(ps.close)
	return ps
}

func (ps *pinStore) open(tb testing.TB) {
	tb.Helper()
	db, err := store.Open(ps.dir, store.Options{LockTimeout: 5 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	pins, err := pinning.Open(db, pinning.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		db.Close()
		tb.Fatal(err)
	}
	ps.db, ps.pins = db, pins
}

func (ps *pinStore) close() {
	if ps.pins != nil {
		ps.pins.Close()
		ps.db.Close()
		ps.pins, ps.db = nil, nil
	}
}

// withPins gives the supervisor the store's pins. The supervisor must be
// closed before the store (the harness closes it at cleanup, which runs
// before the store's cleanup registered earlier).
func withPins(ps *pinStore) func(*supervisor.Options) {
	return func(o *supervisor.Options) { o.Pins = ps.pins }
}

// waitTools waits until the named server is ready with tools listed and
// returns their approvals.
func (h *harness) waitTools(tb testing.TB, name string) map[string]mcpproxy.Approval {
	tb.Helper()
	var srv *stateview.Server
	waitFor(tb, 20*time.Second, func() bool {
		srv = h.get(name)
		return srv != nil && srv.State == mcpproxy.StateReady && len(srv.Tools) > 0
	}, "%s to be ready with tools (now %s)", name, lazyState{h, name})
	m := map[string]mcpproxy.Approval{}
	for _, t := range srv.Tools {
		m[t.Name] = t.Approval
	}
	return m
}

func allApproval(m map[string]mcpproxy.Approval, want mcpproxy.Approval) bool {
	for _, a := range m {
		if a != want {
			return false
		}
	}
	return len(m) > 0
}

// refs names the listed tools of a server with their current fingerprints.
func refs(h *harness, server string, tools ...string) []mcpproxy.ToolRef {
	var out []mcpproxy.ToolRef
	srv := h.get(server)
	for _, name := range tools {
		for _, t := range srv.Tools {
			if t.Name == name {
				out = append(out, mcpproxy.ToolRef{Name: name, Fingerprint: t.Fingerprint})
			}
		}
	}
	return out
}

func quarantineNew(servers ...mcpproxy.ServerSpec) *config.Config {
	cfg := configOf(servers...)
	cfg.QuarantineNewServers = true
	return cfg
}

func TestSupervisor_QuarantineNewServers(t *testing.T) {
	checkLeaks(t)
	ps := newPinStore(t)
	h := newSupervisor(t, withPins(ps))
	a := stdioServer("a", ok, nil)
	h.sup.Apply(quarantineNew(a))
	if srv := h.get("a"); srv == nil || !srv.Quarantined || srv.State != mcpproxy.StateQuarantined {
		t.Fatalf("a = %v, want quarantined at once although its config does not say so", srv)
	}
	// Not started: no process, no tools, nothing known.
	time.Sleep(300 * time.Millisecond)
	if srv := h.get("a"); srv.PID != 0 || srv.Session != nil || len(srv.Tools) != 0 || srv.State != mcpproxy.StateQuarantined {
		t.Fatalf("a quarantined but started: state %s, pid %d, %d tools", srv.State, srv.PID, len(srv.Tools))
	}
	if ps.pins.Known("a") {
		t.Fatal("a became Known while quarantined")
	}
	fp := pinning.SpecFingerprint(&a)

	err := h.sup.Unquarantine(context.Background(), "a", strings.Repeat("0", 64))
	var e *mcpproxy.Error
	if !errors.As(err, &e) || e.Code != mcpproxy.ECONFLICT || e.Details == nil {
		t.Fatalf("Unquarantine with a stale fingerprint = %v, want a conflict with the new review", err)
	}
	if rv, ok := e.Details.(mcpproxy.ServerReview); !ok || rv.Fingerprint != fp {
		t.Errorf("conflict details %+v, want the review with fingerprint %s", e.Details, fp)
	}
	if h.get("a").State != mcpproxy.StateQuarantined {
		t.Fatal("a stale approval released a")
	}
	if err := h.sup.Unquarantine(context.Background(), "a", ""); mcpproxy.ErrorCode(err) != mcpproxy.EINVALID || !strings.Contains(err.Error(), "fingerprint") {
		t.Errorf("Unquarantine without a fingerprint = %v, want invalid naming fingerprint", err)
	}
	if err := h.sup.Unquarantine(context.Background(), "a", fp); err != nil {
		t.Fatal(err)
	}
	// Approved before it listed anything: its first listing is approved.
	if got := h.waitTools(t, "a"); h.get("a").Quarantined || !allApproval(got, mcpproxy.ApprovalApproved) {
		t.Fatalf("after Unquarantine: quarantined %v, tools %v", h.get("a").Quarantined, got)
	}
	if _, ok := h.sup.ApprovedTool("a", "echo"); !ok {
		t.Error("echo has no pin after the approved server listed it")
	}
	if !ps.pins.Known("a") {
		t.Error("a is not Known after Unquarantine")
	}
	if rec, ok := ps.pins.ApprovedSpec("a"); !ok || rec.Fingerprint != fp {
		t.Errorf("approved spec %+v, %v; want fingerprint %s", rec, ok, fp)
	}
	pid := h.get("a").PID

	t.Run("ReApply", func(t *testing.T) {
		h.sup.Apply(quarantineNew(a))
		if h.get("a").Quarantined {
			t.Fatal("re-applying the config quarantined a again")
		}
		// A restart with a changed connection keeps the release too.
		a2 := a
		a2.Args = []string{"v2"}
		h.sup.Apply(quarantineNew(a2))
		waitFor(t, 20*time.Second, func() bool { s := h.get("a"); return s.State == mcpproxy.StateReady && s.PID != pid },
			"a to reconnect (now %s)", lazyState{h, "a"})
		if got := h.waitTools(t, "a"); h.get("a").Quarantined || !allApproval(got, mcpproxy.ApprovalApproved) {
			t.Errorf("after reconnect: quarantined %v, tools %v", h.get("a").Quarantined, got)
		}
		a = a2
	})
	t.Run("NewServerQuarantined", func(t *testing.T) {
		b := stdioServer("b", ok, nil)
		h.sup.Apply(quarantineNew(a, b))
		if !h.get("b").Quarantined || h.get("a").Quarantined {
			t.Fatalf("a quarantined %v, b quarantined %v; want only b", h.get("a").Quarantined, h.get("b").Quarantined)
		}
		if srv := h.get("b"); srv.State != mcpproxy.StateQuarantined || srv.PID != 0 {
			t.Errorf("b: state %s, pid %d; want quarantined and not started", srv.State, srv.PID)
		}
	})
	t.Run("AcrossRestart", func(t *testing.T) {
		h.close(t)
		ps.close()
		ps.open(t)
		h2 := newSupervisor(t, withPins(ps)) // closed at the end of this subtest, before ps
		b := stdioServer("b", ok, nil)
		h2.sup.Apply(quarantineNew(a, b))
		if h2.get("a").Quarantined || !h2.get("b").Quarantined {
			t.Fatalf("after restart: a quarantined %v, b quarantined %v; want only b", h2.get("a").Quarantined, h2.get("b").Quarantined)
		}
		if got := h2.waitTools(t, "a"); !allApproval(got, mcpproxy.ApprovalApproved) {
			t.Errorf("a's tools after restart %v", got)
		}
		if srv := h2.get("b"); srv.State != mcpproxy.StateQuarantined || srv.PID != 0 {
			t.Errorf("b after restart: state %s, pid %d; want quarantined and not started", srv.State, srv.PID)
		}
	})
}

func TestSupervisor_RemoveForgetsPins(t *testing.T) {
	checkLeaks(t)
	ps := newPinStore(t)
	h := newSupervisor(t, withPins(ps))
	a := stdioServer("a", ok, nil)
	h.sup.Apply(configOf(a))
	if got := h.waitTools(t, "a"); !allApproval(got, mcpproxy.ApprovalApproved) {
		t.Fatalf("a's tools %v, want trusted on first use", got)
	}
	if done, err := h.sup.BlockTools("a", []string{"add"}, false); err != nil || len(done) != 1 {
		t.Fatalf("BlockTools = %v, %v", done, err)
	}
	if got := h.waitTools(t, "a"); got["add"] != mcpproxy.ApprovalBlocked {
		t.Fatalf("add is %s after BlockTools", got["add"])
	}

	h.sup.Apply(configOf())
	waitFor(t, 10*time.Second, func() bool { return h.get("a") == nil }, "a to be removed")
	if _, ok := ps.pins.Pin("a", "add"); ok || ps.pins.Known("a") {
		t.Fatal("removing a kept its pins")
	}

	t.Run("AddBackStartsOver", func(t *testing.T) {
		h.sup.Apply(configOf(a))
		if got := h.waitTools(t, "a"); !allApproval(got, mcpproxy.ApprovalApproved) {
			t.Errorf("a's tools after re-adding %v, want all trusted on first use (add no longer blocked)", got)
		}
	})
	t.Run("AddBackQuarantinedWhenNewServersAre", func(t *testing.T) {
		cfg := quarantineNew(a)
		h.sup.Apply(cfg)
		if h.get("a").Quarantined {
			t.Fatal("a Known server was quarantined by quarantine_new_servers")
		}
		h.sup.Apply(quarantineNew())
		waitFor(t, 10*time.Second, func() bool { return h.get("a") == nil }, "a to be removed")
		h.sup.Apply(quarantineNew(a))
		if !h.get("a").Quarantined {
			t.Error("a re-added server is not quarantined: its approval outlived its removal")
		}
		if srv := h.get("a"); srv.State != mcpproxy.StateQuarantined || srv.PID != 0 {
			t.Errorf("re-added a: state %s, pid %d; want quarantined and not started", srv.State, srv.PID)
		}
	})
}

func TestSupervisor_ApprovalErrors(t *testing.T) {
	checkLeaks(t)
	ps := newPinStore(t)
	h := newSupervisor(t, withPins(ps))
	a := stdioServer("a", ok, nil)
	off := stdioServer("off", ok, nil)
	off.Enabled = false
	h.sup.Apply(configOf(a, off))
	h.waitTools(t, "a")
	for _, tc := range []struct {
		name  string
		do    func() error
		code  string
		words []string
	}{
		{"UnknownServer", func() error { _, err := h.sup.ApproveTools("zzz", refs(h, "a", "echo")); return err }, mcpproxy.ENOTFOUND, []string{"zzz"}},
		{"UnknownTool", func() error {
			_, err := h.sup.ApproveTools("a", append(refs(h, "a", "echo"), mcpproxy.ToolRef{Name: "nope", Fingerprint: "x"}))
			return err
		}, mcpproxy.EINVALID, []string{"tools[1]", "nope"}},
		{"NoFingerprint", func() error { _, err := h.sup.ApproveTools("a", []mcpproxy.ToolRef{{Name: "echo"}}); return err }, mcpproxy.EINVALID, []string{"tools[0].fingerprint"}},
		{"StaleFingerprint", func() error {
			_, err := h.sup.ApproveTools("a", []mcpproxy.ToolRef{{Name: "echo", Fingerprint: strings.Repeat("0", 64)}})
			return err
		}, mcpproxy.ECONFLICT, []string{"echo", "changed"}},
		{"ToolsAndAll", func() error { _, err := h.sup.BlockTools("a", []string{"echo"}, true); return err }, mcpproxy.EINVALID, []string{"all"}},
		{"Neither", func() error { _, err := h.sup.ApproveTools("a", nil); return err }, mcpproxy.EINVALID, []string{"tools"}},
		{"UnquarantineUnknown", func() error { return h.sup.Unquarantine(context.Background(), "zzz", "x") }, mcpproxy.ENOTFOUND, []string{"zzz"}},
		{"QuarantineWithoutWriter", func() error { return h.sup.Quarantine(context.Background(), "a") }, mcpproxy.EUNAVAILABLE, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if mcpproxy.ErrorCode(err) != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not mention %q", err, w)
				}
			}
		})
	}
	t.Run("NoPins", func(t *testing.T) {
		h2 := newSupervisor(t, nil)
		h2.sup.Apply(configOf(stdioServer("b", ok, nil)))
		if _, err := h2.sup.ApproveTools("b", []mcpproxy.ToolRef{{Name: "echo", Fingerprint: "x"}}); mcpproxy.ErrorCode(err) != mcpproxy.EUNAVAILABLE {
			t.Errorf("ApproveTools without pins = %v, want unavailable", err)
		}
		if _, ok := h2.sup.ApprovedTool("b", "echo"); ok {
			t.Error("ApprovedTool without pins found a pin")
		}
		if got := h2.waitTools(t, "b"); !allApproval(got, mcpproxy.ApprovalApproved) {
			t.Errorf("without pins, tools %v; want all approved", got)
		}
	})
}

// TestSupervisor_RemovedWhileStoppedForgetsPins: a server removed from the
// config file while the daemon was not running must not leave its approval
// behind for whatever server is later added under the same name. The first
// Apply after a start diffs against an empty config, so nothing is
// "removed" and Pins.Forget never runs for it.
func TestSupervisor_RemovedWhileStoppedForgetsPins(t *testing.T) {
	checkLeaks(t)
	ps := newPinStore(t)
	a := stdioServer("a", ok, nil)
	func() {
		h := newSupervisor(t, withPins(ps))
		h.sup.Apply(quarantineNew(a))
		if err := h.sup.Unquarantine(context.Background(), "a", pinning.SpecFingerprint(&a)); err != nil {
			t.Fatal(err)
		}
		h.waitTools(t, "a")
		if h.get("a").Quarantined {
			t.Fatal("a still quarantined")
		}
		h.close(t)
	}()
	// The daemon is stopped; a person deletes a from the file; the daemon
	// starts again.
	ps.close()
	ps.open(t)
	h := newSupervisor(t, withPins(ps))
	h.sup.Apply(quarantineNew())
	if _, ok := ps.pins.Pin("a", "echo"); ok || ps.pins.Known("a") {
		t.Error("the pins of a server no longer in the config survive the first Apply")
	}
	// Later a different server is added under the same name.
	other := stdioServer("a", ok, map[string]string{"UNRELATED": "1"})
	other.Args = []string{"something-else"}
	h.sup.Apply(quarantineNew(other))
	if !h.get("a").Quarantined {
		t.Error("a new server under a removed server's name is not quarantined: it inherited the old approval")
	}
}
