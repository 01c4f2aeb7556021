package client

import (
	"context"
	"net/http"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// AuthStatus is a server's OAuth login state (never a token).
type AuthStatus = mcpproxy.AuthStatus

// Login starts an OAuth login to a server. The daemon completes it when
// the authorization server redirects the browser to its loopback listener.
func (c *Client) Login(ctx context.Context, name string) (apiv1.LoginStarted, error) {
	var r apiv1.LoginStarted
	err := c.do(ctx, http.MethodPost, serverPath(name, "login"), nil, nil, &r)
	return r, err
}

// AuthStatus returns a server's login state.
func (c *Client) AuthStatus(ctx context.Context, name string) (AuthStatus, error) {
	var st AuthStatus
	err := c.do(ctx, http.MethodGet, serverPath(name, "auth"), nil, nil, &st)
	return st, err
}

// AuthList returns the login state of every HTTP server.
func (c *Client) AuthList(ctx context.Context) ([]AuthStatus, error) {
	var list []AuthStatus
	err := c.do(ctx, http.MethodGet, "/api/v1/auth", nil, nil, &list)
	return list, err
}

// Logout forgets a server's tokens.
func (c *Client) Logout(ctx context.Context, name string) (apiv1.LoggedOut, error) {
	var r apiv1.LoggedOut
	err := c.do(ctx, http.MethodPost, serverPath(name, "logout"), nil, nil, &r)
	return r, err
}
