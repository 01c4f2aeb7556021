package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// events streams the event bus as server-sent events. The first event is a
// full snapshot, so a client never needs to poll; a client that falls behind
// is dropped by the bus and its stream ends, and on reconnect it gets a fresh
// snapshot.
func (a *API) events(w http.ResponseWriter, r *http.Request) error {
	fl, ok := w.(http.Flusher)
	if !ok {
		return mcpproxy.Errorf(mcpproxy.EINTERNAL, "streaming unsupported")
	}
	sub := a.b.View().Bus.Subscribe(0)
	defer sub.Close()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	snap := a.b.View().Load()
	servers := make([]json.RawMessage, 0, len(snap.Names))
	for _, n := range snap.Names {
		if s := snap.Get(n); s != nil {
			servers = append(servers, s.SummaryJSON())
		}
	}
	first := mcpproxy.NewEvent("snapshot", "", map[string]any{
		"status":  a.statusBody(),
		"servers": servers,
	})
	if err := writeEvent(w, first); err != nil {
		return nil
	}
	fl.Flush()

	hb := time.NewTicker(a.opts.Heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-hb.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return nil
			}
			fl.Flush()
		case ev, ok := <-sub.C():
			if !ok {
				if sub.Dropped() {
					fmt.Fprint(w, "event: dropped\ndata: {\"reason\":\"client too slow; reconnect for a fresh snapshot\"}\n\n")
					fl.Flush()
				}
				return nil
			}
			if err := writeEvent(w, ev); err != nil {
				return nil
			}
			// Drain what is already queued before flushing once.
			for more := true; more; {
				select {
				case ev, ok := <-sub.C():
					if !ok {
						more = false
						break
					}
					if err := writeEvent(w, ev); err != nil {
						return nil
					}
				default:
					more = false
				}
			}
			fl.Flush()
		}
	}
}

func writeEvent(w http.ResponseWriter, ev mcpproxy.Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, b)
	return err
}
