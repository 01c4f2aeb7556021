package supervisor_test

import (
	"fmt"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/supervisor"
)

// BenchmarkApply_1000: the first Apply of a config of 1,000 servers, which
// is what /readyz waits for at startup.
func BenchmarkApply_1000(b *testing.B) {
	cfg := config.Default()
	for i := range 1000 {
		cfg.Servers = append(cfg.Servers, mcpproxy.ServerSpec{Name: fmt.Sprintf("s%04d", i), Protocol: "streamable-http",
			URL: fmt.Sprintf("http://127.0.0.1:1/mcp/%d", i), Enabled: true})
	}
	for b.Loop() {
		b.StopTimer()
		sup := supervisor.New(supervisor.Options{View: stateview.New()})
		b.StartTimer()
		sup.Apply(cfg)
		b.StopTimer()
		sup.Close()
		b.StartTimer()
	}
}
