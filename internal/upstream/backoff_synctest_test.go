package upstream_test

import (
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/upstream"
)

// startFailing starts, inside the current synctest bubble, an actor whose
// every connect fails at once without any I/O that would leave the bubble
// (its command does not exist), with the given backoff and no jitter.
func startFailing(b upstream.Backoff) (*stateview.View, *upstream.Actor) {
	spec := mcpproxy.ServerSpec{Name: serverName, Protocol: mcpproxy.ProtocolStdio, Command: "mcpproxy-no-such-command", Enabled: true}
	v := stateview.New()
	v.Put(&stateview.Server{ServerStatus: mcpproxy.ServerStatus{Name: serverName, State: mcpproxy.StateConnecting}, Generation: 1})
	a := upstream.Start(upstream.Options{
		Spec: spec, Generation: 1, View: v,
		Logger:  slog.New(slog.DiscardHandler),
		Backoff: b,
	})
	return v, a
}

func TestActor_BackoffSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := upstream.Backoff{Base: time.Second, Max: 8 * time.Second}
		v, a := startFailing(b)
		defer a.Wait()
		defer a.Stop()

		want := []time.Duration{1, 2, 4, 8, 8, 8} // seconds, doubling to the cap
		for i, w := range want {
			n := i + 1
			synctest.Wait() // the actor has failed and waits for its retry
			s := v.Load().Get(serverName)
			if s.State != mcpproxy.StateError || s.RetryCount != n {
				t.Fatalf("attempt %d: state %s, retry_count %d", n, s.State, s.RetryCount)
			}
			if s.LastErrorAt == nil || s.NextRetryAt == nil {
				t.Fatalf("attempt %d: last_error_at %v, next_retry_at %v", n, s.LastErrorAt, s.NextRetryAt)
			}
			if d := s.NextRetryAt.Sub(*s.LastErrorAt); d != w*time.Second {
				t.Errorf("attempt %d: next retry in %v, want %v", n, d, w*time.Second)
			}
			// Nothing happens until the announced time…
			time.Sleep(time.Until(*s.NextRetryAt) - time.Nanosecond)
			synctest.Wait()
			if got := v.Load().Get(serverName).RetryCount; got != n {
				t.Fatalf("attempt %d: retried %v early (retry_count %d)", n, time.Nanosecond, got)
			}
			// …and the retry happens exactly then.
			time.Sleep(time.Nanosecond)
		}
	})
}

func TestActor_RestartSkipsBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, a := startFailing(upstream.Backoff{Base: time.Hour, Max: 2 * time.Hour})
		defer a.Wait()
		defer a.Stop()

		synctest.Wait()
		s := v.Load().Get(serverName)
		if s.RetryCount != 1 || s.NextRetryAt.Sub(*s.LastErrorAt) != time.Hour {
			t.Fatalf("retry_count %d, next retry in %v; want 1, 1h", s.RetryCount, s.NextRetryAt.Sub(*s.LastErrorAt))
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if got := v.Load().Get(serverName).RetryCount; got != 1 {
			t.Fatalf("retried during the backoff: retry_count %d", got)
		}

		before := time.Now()
		a.Restart()
		synctest.Wait()
		s = v.Load().Get(serverName)
		// It tried again at once (no time passed in the bubble) and,
		// having been asked to, started counting from the first attempt.
		if !s.LastErrorAt.Equal(before) || s.RetryCount != 1 {
			t.Errorf("after restart: last_error_at %v (restart at %v), retry_count %d", s.LastErrorAt, before, s.RetryCount)
		}
		if d := s.NextRetryAt.Sub(*s.LastErrorAt); d != time.Hour {
			t.Errorf("after restart: next retry in %v, want 1h", d)
		}
	})
}

func TestActor_StopDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a := startFailing(upstream.Backoff{Base: time.Hour, Max: time.Hour})
		synctest.Wait()
		start := time.Now()
		a.Stop()
		a.Wait()
		if d := time.Since(start); d != 0 {
			t.Errorf("stop waited %v for the backoff timer", d)
		}
	})
}
