package upstream

import (
	"net/http"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// headerTransport adds the server's configured headers to every request.
type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
}

func (t *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if len(t.headers) == 0 {
		return t.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	for k, v := range t.headers {
		r.Header.Set(k, v)
	}
	return t.base.RoundTrip(r)
}

// httpClient returns a client for one server. It has no overall timeout
// because SSE streams live as long as the session; requests are bounded by
// their contexts instead.
func httpClient(spec *mcpproxy.ServerSpec) *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.ResponseHeaderTimeout = 0
	base.IdleConnTimeout = 90 * time.Second
	base.MaxIdleConnsPerHost = 16
	return &http.Client{Transport: &headerTransport{base: base, headers: spec.Headers}}
}

func streamableTransport(spec *mcpproxy.ServerSpec, c *http.Client) mcp.Transport {
	return &mcp.StreamableClientTransport{Endpoint: spec.URL, HTTPClient: c}
}

func sseTransport(spec *mcpproxy.ServerSpec, c *http.Client) mcp.Transport {
	return &mcp.SSEClientTransport{Endpoint: spec.URL, HTTPClient: c}
}
