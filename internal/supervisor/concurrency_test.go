package supervisor_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/supervisor"
)

// checkRunningMatchesConfig fails unless every server of the applied config
// is in the view in the state its spec asks for, and nothing else is.
func checkRunningMatchesConfig(tb testing.TB, h *harness) {
	tb.Helper()
	cfg := h.sup.Config()
	snap := h.view.Load()
	if snap.Len() != len(cfg.Servers) {
		tb.Errorf("view has %v, config has %d servers", snap.Names, len(cfg.Servers))
	}
	for _, spec := range cfg.Servers {
		srv := snap.Get(spec.Name)
		switch {
		case srv == nil:
			tb.Errorf("%s is configured but not in the view", spec.Name)
		case !spec.Enabled && srv.State != mcpproxy.StateDisabled && srv.State != mcpproxy.StateStopping,
			spec.Enabled && srv.State == mcpproxy.StateDisabled:
			tb.Errorf("%s is %s, its config says enabled %v", spec.Name, srv.State, spec.Enabled)
		case srv.Enabled != spec.Enabled || srv.Quarantined != spec.Quarantined:
			tb.Errorf("%s shows enabled %v quarantined %v, config says %v %v", spec.Name, srv.Enabled, srv.Quarantined, spec.Enabled, spec.Quarantined)
		}
	}
}

// Apply may be called from several goroutines (the file watcher, API
// commands). Whatever order they run in, what runs must be what Config
// reports.
func TestSupervisor_ConcurrentApply(t *testing.T) {
	checkLeaks(t)
	h := newSupervisor(t, nil)
	spec := func(name string, quarantined bool) mcpproxy.ServerSpec {
		s := stdioServer(name, ok, nil)
		s.Enabled = false // never connected: no processes
		s.Quarantined = quarantined
		return s
	}
	cfgs := []*config.Config{
		configOf(spec("x", true)),
		configOf(spec("y", true)),
		configOf(spec("x", true), spec("y", false)),
		configOf(spec("x", false)),
	}
	for round := range 200 {
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() { h.sup.Apply(cfgs[(i+round)%len(cfgs)]) })
		}
		wg.Wait()
		checkRunningMatchesConfig(t, h)
		if t.Failed() {
			t.Fatalf("round %d: running state diverged from Config()", round)
		}
	}
}

// Commands that edit the file are applied in the order the file was
// written: a later edit's config includes the earlier ones, so applying an
// earlier one after it would undo changes that are in the file.
func TestSupervisor_ConcurrentEdits(t *testing.T) {
	checkLeaks(t)
	const n = 8
	path := filepath.Join(t.TempDir(), "config.json")
	var servers []mcpproxy.ServerSpec
	for i := range n {
		s := stdioServer("s"+strconv.Itoa(i), ok, nil)
		s.Enabled = false // never connected: no processes
		servers = append(servers, s)
	}
	data, _ := json.Marshal(map[string]any{"mcpServers": servers})
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

	for round := range 30 {
		enable := round%2 == 1
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if err := h.sup.SetQuarantined(context.Background(), "s"+strconv.Itoa(i), enable); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		fileCfg, _, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range fileCfg.Servers {
			if want.Quarantined != enable {
				t.Fatalf("round %d: file has %s quarantined=%v", round, want.Name, want.Quarantined)
			}
			got, _ := h.sup.Config().Server(want.Name)
			if got == nil || got.Quarantined != enable {
				t.Errorf("round %d: running config has %s quarantined=%v, the file %v", round, want.Name, got != nil && got.Quarantined, enable)
			}
		}
		checkRunningMatchesConfig(t, h)
		if t.Failed() {
			t.FailNow()
		}
	}
}
