package mcpserver

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// metricValue scrapes the proxy's registry and returns the value of the one
// series of family whose labels include all of want ("k=v"), or -1.
func (p *proxy) metricValue(tb testing.TB, family string, want ...string) float64 {
	tb.Helper()
	mfs, err := p.metrics.Registry().Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for _, kv := range want {
				k, v, _ := strings.Cut(kv, "=")
				if have[k] != v {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}

func TestMetrics(t *testing.T) {
	p := newProxy(t, proxyOptions{Metrics: true, Servers: []map[string]any{
		streamable(t, "alpha", testupstream.Options{}, nil),
		streamable(t, "quar", testupstream.Options{}, map[string]any{"quarantined": true}),
		{"name": "broken", "command": "/nonexistent/mcpproxy-test-command"},
	}})
	p.waitCatalog(t, "alpha")
	p.waitQuarantined(t, "quar", true)
	p.waitState(t, "broken", mcpproxy.StateError)
	cs := p.connect(t, "/mcp", clientOptions{})

	t.Run("ToolCalls", func(t *testing.T) {
		wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "hi"}}), "hi")
		wantError(t, call(t, cs, "call_tool", map[string]any{"name": "quar:echo", "args": map[string]any{"message": "hi"}}), "quarantined")
		wantError(t, call(t, cs, "call_tool", map[string]any{"name": "made-up:thing"}))
		for _, c := range []struct {
			server, tool, outcome string
		}{
			{"alpha", "echo", activity.StatusOK},
			// Not started, so its tools are unknown.
			{"quar", "(unknown)", activity.StatusBlocked},
			{"(unknown)", "(unknown)", activity.StatusError}, // not found
		} {
			got := p.metricValue(t, "mcpproxy_tool_calls_total", "server="+c.server, "tool="+c.tool, "outcome="+c.outcome)
			if got != 1 {
				t.Errorf("mcpproxy_tool_calls_total{server=%q,tool=%q,outcome=%q} = %v, want 1", c.server, c.tool, c.outcome, got)
			}
		}
		if got := p.metricValue(t, "mcpproxy_tool_call_duration_seconds", "server=alpha", "outcome=ok"); got != 1 {
			t.Errorf("duration histogram count for alpha/ok = %v, want 1", got)
		}
		if n := testutil.CollectAndCount(p.metrics.Registry(), "mcpproxy_tool_calls_total"); n != 3 {
			t.Errorf("mcpproxy_tool_calls_total has %d series, want 3", n)
		}
	})

	t.Run("Index", func(t *testing.T) {
		if got := p.metricValue(t, "mcpproxy_index_updates_total", "op=set"); got < 1 {
			t.Errorf("mcpproxy_index_updates_total{op=set} = %v, want >= 1", got)
		}
		if got := p.metricValue(t, "mcpproxy_index_update_duration_seconds", "op=set"); got < 1 {
			t.Errorf("index update histogram count = %v, want >= 1", got)
		}
		if got := p.metricValue(t, "mcpproxy_tools_indexed"); got != float64(p.idx.Len()) || got < 1 {
			t.Errorf("mcpproxy_tools_indexed = %v, want %d", got, p.idx.Len())
		}
		if got := p.metricValue(t, "mcpproxy_tools_usable"); got < 1 {
			t.Errorf("mcpproxy_tools_usable = %v, want >= 1", got)
		}
	})

	t.Run("ConnectFailures", func(t *testing.T) {
		if got := p.metricValue(t, "mcpproxy_upstream_connect_failures_total", "server=broken"); got < 1 {
			t.Errorf("connect failures of broken = %v, want >= 1", got)
		}
		if got := p.metricValue(t, "mcpproxy_upstream_connect_attempts_total", "server=alpha"); got < 1 {
			t.Errorf("connect attempts of alpha = %v, want >= 1", got)
		}
		if got := p.metricValue(t, "mcpproxy_upstream_connect_failures_total", "server=alpha"); got != -1 {
			t.Errorf("connect failures of alpha = %v, want no series", got)
		}
	})

	t.Run("Reconnects", func(t *testing.T) {
		before := p.metricValue(t, "mcpproxy_upstream_reconnects_total", "server=alpha")
		if err := p.sup.Restart("alpha"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 15*time.Second, func() bool {
			return p.metricValue(t, "mcpproxy_upstream_reconnects_total", "server=alpha") > before
		}, "reconnects of alpha to move from %v", before)
	})

	t.Run("ServersByState", func(t *testing.T) {
		if got := p.metricValue(t, "mcpproxy_servers_quarantined"); got != 1 {
			t.Errorf("mcpproxy_servers_quarantined = %v, want 1", got)
		}
		if got := p.metricValue(t, "mcpproxy_servers", "state=disabled"); got != 0 {
			t.Errorf("disabled servers = %v, want 0", got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.sup.SetEnabled(ctx, "broken", false); err != nil {
			t.Fatal(err)
		}
		p.waitState(t, "broken", mcpproxy.StateDisabled)
		if got := p.metricValue(t, "mcpproxy_servers", "state=disabled"); got != 1 {
			t.Errorf("disabled servers = %v, want 1", got)
		}
		if got := p.metricValue(t, "mcpproxy_servers", "state=error"); got != 0 {
			t.Errorf("servers in error = %v, want 0", got)
		}
	})
}
