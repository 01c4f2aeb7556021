package supervisor_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// TestSupervisor_DisableWhileWaitingToRetry: disabling a server whose actor
// waits to retry stops that actor at once, and the server must still end up
// disabled, not stuck in stopping. Many servers and rounds give the actor's
// exit every chance to come before the stopping entry is published (300
// servers failed this within the first round before the fix).
func TestSupervisor_DisableWhileWaitingToRetry(t *testing.T) {
	h := newSupervisor(t, nil)
	const n = 300
	on := make([]mcpproxy.ServerSpec, n)
	for i := range on {
		on[i] = mcpproxy.ServerSpec{Name: fmt.Sprintf("s%02d", i), Command: "mcpproxy-test-no-such-command", Enabled: true}
	}
	off := make([]mcpproxy.ServerSpec, n)
	for i := range off {
		off[i] = on[i]
		off[i].Enabled = false
	}
	for round := range 5 {
		h.sup.Apply(configOf(on...))
		for _, s := range on {
			h.waitState(t, 10*time.Second, s.Name, mcpproxy.StateError)
		}
		h.sup.Apply(configOf(off...))
		for _, s := range off {
			waitFor(t, 10*time.Second, func() bool {
				srv := h.get(s.Name)
				return srv != nil && srv.State == mcpproxy.StateDisabled
			}, "round %d: %s to be disabled (now %s)", round, s.Name, lazyState{h, s.Name})
		}
	}
}
