package upstream

import (
	"context"
	"os"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/secret"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ConnectOptions configures Connect.
type ConnectOptions struct {
	// Auth supplies OAuth tokens to an HTTP server; nil sends none. A
	// Challenger also answers the server's challenges itself.
	Auth Authorizer
	// Client makes the MCP client; nil makes a plain one (no capabilities)
	// named mcpproxy. Each connection attempt (auto tries two) calls it.
	Client func() *mcp.Client
	// Logs receives a stdio server's stderr; nil keeps a small buffer.
	Logs *LogBuffer
}

// Conn is one connection to one server, opened by Connect, owned by its
// caller until Close.
type Conn struct {
	c     *conn
	tools []mcpproxy.Tool
}

// Connect connects to spec's server the way an actor does (same
// transports, placeholder expansion, OAuth gate), once and without
// retrying: it initializes and lists the tools. It is for one-off
// connections such as `mcpproxy upstream probe`. An error that only a
// login can fix is a *NeedsAuthError. ctx bounds the connection's
// lifetime too: cancelling it ends the connection.
func Connect(ctx context.Context, spec mcpproxy.ServerSpec, opts ConnectOptions) (*Conn, error) {
	expanded, _, err := secret.ExpandSpec(spec, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	if opts.Client == nil {
		opts.Client = func() *mcp.Client {
			return mcp.NewClient(&mcp.Implementation{Name: "mcpproxy", Version: defaultVersion},
				&mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}})
		}
	}
	if opts.Logs == nil {
		opts.Logs = NewLogBuffer("", 0)
	}
	life, cancel := context.WithCancel(ctx)
	c, tools, err := dialSpec(life, &expanded, dialer{auth: opts.Auth, logs: opts.Logs, newClient: opts.Client, grace: defaultCloseGrace})
	if err != nil {
		cancel()
		return nil, err
	}
	c.cancel = cancel
	return &Conn{c: c, tools: tools}, nil
}

// Session is the connection's MCP session, safe for concurrent use.
func (c *Conn) Session() *mcp.ClientSession { return c.c.session }

// Tools are the tools the server listed when the connection opened.
func (c *Conn) Tools() []mcpproxy.Tool { return c.tools }

// Protocol is the transport the connection uses.
func (c *Conn) Protocol() mcpproxy.Protocol { return c.c.proto }

// Err returns a *NeedsAuthError when a request on the connection met a
// challenge that could not be answered, else nil.
func (c *Conn) Err() error { return c.c.gate.err() }

// Close ends the session (and a stdio child) and waits for it.
func (c *Conn) Close() { c.c.close() }
