package mcpproxy

import (
	"encoding/json"
	"time"
)

// Event types published on the event bus.
const (
	EventServerStateChanged = "server.state_changed"
	EventServerToolsChanged = "server.tools_changed"
	EventConfigReloaded     = "config.reloaded"
	EventConfigError        = "config.error"
	// EventConfigWarnings carries the warnings of the config load just
	// accepted, when they changed: Data {"warnings": [...]}.
	EventConfigWarnings = "config.warnings"
	// EventToolChanged announces a tool that appeared or changed on an
	// approved server and waits for a person's approval.
	EventToolChanged = "tool.changed"
	// EventServerAuth reports an OAuth event of one server: a login that
	// completed or failed, a refresh that was refused. Data: {"event",
	// "message"}; never a token.
	EventServerAuth = "server.auth"
	// EventActivity carries one committed activity record as its Data.
	EventActivity = "activity"
)

// Event is one message on the event bus. Data is pre-encoded JSON so that an
// event can be fanned out to many subscribers without re-encoding or sharing
// mutable values.
type Event struct {
	Type   string          `json:"type"`
	Time   time.Time       `json:"time"`
	Server string          `json:"server,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// NewEvent builds an event, encoding data as JSON.
func NewEvent(typ, server string, data any) Event {
	ev := Event{Type: typ, Time: time.Now().UTC(), Server: server}
	if data != nil {
		if b, err := json.Marshal(data); err == nil {
			ev.Data = b
		}
	}
	return ev
}
