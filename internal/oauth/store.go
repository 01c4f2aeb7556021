package oauth

import (
	"encoding/json"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// Buckets of the store, keyed by server name.
const (
	bucketGrants  = "oauth_grants"
	bucketClients = "oauth_clients"
)

// Grant is what a login leaves for one server: the tokens and what is
// needed to refresh them. It is bound to the server's URL and client.
type Grant struct {
	ServerURL string `json:"server_url"`
	// Dynamic: the client was registered by mcpproxy (RFC 7591), not
	// configured; its secret, if any, is kept here for refreshing.
	Dynamic      bool   `json:"dynamic,omitempty"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
	TokenURL     string `json:"token_url"`
	AuthStyle    int    `json:"auth_style,omitempty"`
	// Resource is the RFC 8707 resource the token was issued for; refresh
	// requests name it too.
	Resource     string    `json:"resource,omitempty"`
	Scopes       []string  `json:"scopes,omitempty"`
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	ObtainedAt   time.Time `json:"obtained_at"`
	LastRefresh  time.Time `json:"last_refresh,omitzero"`
}

// RefreshAt is when the grant's access token should be refreshed: at 80%
// of its lifetime. Zero when it cannot be refreshed or does not expire.
func (g *Grant) RefreshAt() time.Time {
	if g.RefreshToken == "" || g.Expiry.IsZero() {
		return time.Time{}
	}
	life := g.Expiry.Sub(g.ObtainedAt)
	if life <= 0 {
		return g.ObtainedAt
	}
	return g.ObtainedAt.Add(life * 4 / 5)
}

// Client is a client mcpproxy registered dynamically for a server, reused
// by later logins to the same URL.
type Client struct {
	ServerURL    string `json:"server_url"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
	RedirectURI  string `json:"redirect_uri"`
}

// store keeps grants and registered clients in two buckets of the daemon's
// store, keyed by server name.
type store struct{ db mcpproxy.Store }

func (s *store) put(bucket, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx mcpproxy.StoreTx) error { return tx.Put(bucket, []byte(name), b) })
}

func (s *store) del(bucket, name string) error {
	return s.db.Update(func(tx mcpproxy.StoreTx) error { return tx.Delete(bucket, []byte(name)) })
}

func (s *store) client(name string) (*Client, error) {
	var c *Client
	err := s.db.View(func(tx mcpproxy.StoreTx) error {
		v := tx.Get(bucketClients, []byte(name))
		if v == nil {
			return nil
		}
		c = new(Client)
		return json.Unmarshal(v, c)
	})
	return c, err
}

func (s *store) grants() (map[string]*Grant, error) {
	out := map[string]*Grant{}
	err := s.db.View(func(tx mcpproxy.StoreTx) error {
		tx.Scan(bucketGrants, nil, false, func(k, v []byte) bool {
			g := new(Grant)
			if json.Unmarshal(v, g) == nil {
				out[string(k)] = g
			}
			return true
		})
		return nil
	})
	return out, err
}

// names lists the servers that have a grant or a registered client.
func (s *store) names() ([]string, error) {
	seen := map[string]bool{}
	var out []string
	err := s.db.View(func(tx mcpproxy.StoreTx) error {
		for _, b := range []string{bucketGrants, bucketClients} {
			tx.Scan(b, nil, false, func(k, _ []byte) bool {
				if n := string(k); !seen[n] {
					seen[n] = true
					out = append(out, n)
				}
				return true
			})
		}
		return nil
	})
	return out, err
}
