package upstream

import (
	"context"
	"io"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// connTransport adds the server's configured headers to every request and
// ties every request to the connection's lifetime: when the actor drops the
// connection, requests the SDK started on its own contexts (such as the
// cancellation notice it posts after a failed initialize) end at once instead
// of holding up the actor's stop. It taps every event stream (a streamable
// HTTP response, its standalone stream, an SSE session) for progress.
type connTransport struct {
	base     http.RoundTripper
	headers  map[string]string
	life     context.Context
	progress func(context.Context, *mcp.ProgressNotificationParams) // may be nil
	auth     *authGate                                              // may be nil
}

func (t *connTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(t.life, cancel)
	r = r.Clone(ctx)
	for k, v := range t.headers {
		r.Header.Set(k, v)
	}
	var resp *http.Response
	var err error
	if t.auth != nil {
		resp, err = t.auth.send(t.base, r)
	} else {
		resp, err = t.base.RoundTrip(r)
	}
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	body := resp.Body
	if isEventStream(resp.Header.Get("Content-Type")) {
		body = tapProgress(ctx, body, t.progress, true)
	}
	resp.Body = &cancelBody{ReadCloser: body, done: func() { stop(); cancel() }}
	return resp, nil
}

// isEventStream reports whether a response is a stream of server-sent events.
func isEventStream(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "text/event-stream"
}

// cancelBody releases a request's context when its body is closed.
type cancelBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// httpClient returns a client for one server, whose event streams deliver
// progress to deliver as it is read (deliver may be nil) and whose requests
// carry the gate's OAuth token (gate may be nil). It has no overall timeout
// because SSE streams live as long as the session; requests are bounded by
// their contexts instead.
func httpClient(life context.Context, spec *mcpproxy.ServerSpec, deliver func(context.Context, *mcp.ProgressNotificationParams), gate *authGate) *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.ResponseHeaderTimeout = 0
	base.IdleConnTimeout = 90 * time.Second
	base.MaxIdleConnsPerHost = 16
	context.AfterFunc(life, base.CloseIdleConnections)
	return &http.Client{Transport: &connTransport{base: base, headers: spec.Headers, life: life, progress: deliver, auth: gate}}
}

func streamableTransport(spec *mcpproxy.ServerSpec, c *http.Client) mcp.Transport {
	return &mcp.StreamableClientTransport{Endpoint: spec.URL, HTTPClient: c}
}

func sseTransport(spec *mcpproxy.ServerSpec, c *http.Client) mcp.Transport {
	return &mcp.SSEClientTransport{Endpoint: spec.URL, HTTPClient: c}
}
