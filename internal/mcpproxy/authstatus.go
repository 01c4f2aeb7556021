package mcpproxy

import "time"

// AuthStatus is what may be shown about a server's OAuth login: never a token.
type AuthStatus struct {
	Server       string     `json:"server"`
	LoggedIn     bool       `json:"logged_in"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	Scopes       []string   `json:"scopes,omitempty"`
	ObtainedAt   *time.Time `json:"obtained_at,omitempty"`
	LastRefresh  *time.Time `json:"last_refresh,omitempty"`
	Refreshable  bool       `json:"refreshable"`
	Client       string     `json:"client,omitempty"` // "configured" or "registered"
	LoginPending bool       `json:"login_pending"`
	LastError    string     `json:"last_error,omitempty"`
}
