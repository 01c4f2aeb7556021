// Package metrics serves the daemon's Prometheus metrics at /metrics.
//
// It owns a registry of its own (never the global default), so every
// Metrics value, and every test, is isolated. Counters are updated by hooks
// the other packages call (mcpserver.Metrics, upstream.Options.OnConnect, the
// HTTP middleware); they only touch atomics inside client_golang and never
// block. Gauges about servers, tools and the event bus are read at scrape
// time from the state view's snapshot and the bus's atomic counters, so a
// scrape takes no lock that anyone else holds.
package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/httpauth"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// unknown labels a call to a server or tool that does not exist, so names an
// agent makes up cannot grow the number of series without bound. Server and
// tool names never contain parentheses.
const unknown = "(unknown)"

// Options configure New.
type Options struct {
	// View is read at scrape time for servers by state and usable tools.
	View *stateview.View
	// ToolsIndexed returns the number of tools in the search index; nil
	// leaves mcpproxy_tools_indexed out.
	ToolsIndexed func() int
	// Process adds the standard Go runtime and process collectors.
	Process bool
}

// Metrics holds the daemon's collectors and their registry.
type Metrics struct {
	reg  *prometheus.Registry
	view *stateview.View

	toolCalls    *prometheus.CounterVec
	callDuration *prometheus.HistogramVec
	connects     *prometheus.CounterVec
	connectFails *prometheus.CounterVec
	reconnects   *prometheus.CounterVec
	indexUpdates *prometheus.CounterVec
	indexTime    *prometheus.HistogramVec
	httpRequests *prometheus.CounterVec
	httpTime     *prometheus.HistogramVec
}

// New returns the daemon's metrics, registered in a fresh registry.
func New(opts Options) *Metrics {
	m := &Metrics{
		reg:  prometheus.NewRegistry(),
		view: opts.View,
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpproxy_tool_calls_total",
			Help: "Tool calls through mcpproxy by server, tool and outcome (ok, tool_error, error, blocked, timeout, cancelled).",
		}, []string{"server", "tool", "outcome"}),
		callDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mcpproxy_tool_call_duration_seconds",
			Help:    "Duration of tool calls by server and outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"server", "outcome"}),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpproxy_upstream_connect_attempts_total",
			Help: "Attempts to connect to an upstream server (connect, initialize, list tools).",
		}, []string{"server"}),
		connectFails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpproxy_upstream_connect_failures_total",
			Help: "Connect attempts that failed or timed out.",
		}, []string{"server"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpproxy_upstream_reconnects_total",
			Help: "Connect attempts after the server had been ready before.",
		}, []string{"server"}),
		indexUpdates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpproxy_index_updates_total",
			Help: "Updates of the tool search index by operation (set, remove).",
		}, []string{"op"}),
		indexTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mcpproxy_index_update_duration_seconds",
			Help:    "Duration of tool search index updates by operation.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"op"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpproxy_http_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		httpTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mcpproxy_http_request_duration_seconds",
			Help: "Duration of HTTP requests by route; streams (/events, /sse) count until they end.",
		}, []string{"route"}),
	}
	m.reg.MustRegister(m.toolCalls, m.callDuration, m.connects, m.connectFails, m.reconnects,
		m.indexUpdates, m.indexTime, m.httpRequests, m.httpTime,
		&stateCollector{view: opts.View, indexed: opts.ToolsIndexed})
	if opts.Process {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// Registry returns the registry the metrics are registered in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ToolCall counts one tool call; it implements mcpserver.Metrics.
func (m *Metrics) ToolCall(server, tool, status string, d time.Duration) {
	server, tool = m.known(server, tool)
	m.toolCalls.WithLabelValues(server, tool, status).Inc()
	m.callDuration.WithLabelValues(server, status).Observe(d.Seconds())
}

// Forget drops a removed server's series, so that servers coming and going
// do not grow the number of series for ever.
func (m *Metrics) Forget(server string) {
	l := prometheus.Labels{"server": server}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.toolCalls, m.callDuration, m.connects, m.connectFails, m.reconnects,
	} {
		v.DeletePartialMatch(l)
	}
}

// known replaces a server or tool name that is not in the current snapshot
// with "(unknown)".
func (m *Metrics) known(server, tool string) (string, string) {
	if m.view == nil {
		return server, tool
	}
	srv := m.view.Load().Get(server)
	if srv == nil {
		return unknown, unknown
	}
	for i := range srv.Tools {
		if srv.Tools[i].Name == tool {
			return server, tool
		}
	}
	return server, unknown
}

// IndexUpdate counts one update of the tool index; it implements
// mcpserver.Metrics.
func (m *Metrics) IndexUpdate(op string, d time.Duration) {
	m.indexUpdates.WithLabelValues(op).Inc()
	m.indexTime.WithLabelValues(op).Observe(d.Seconds())
}

// OnConnect counts one connect attempt; it fits upstream.Options.OnConnect.
func (m *Metrics) OnConnect(server string, reconnect bool, err error) {
	m.connects.WithLabelValues(server).Inc()
	if reconnect {
		m.reconnects.WithLabelValues(server).Inc()
	}
	if err != nil {
		m.connectFails.WithLabelValues(server).Inc()
	}
}

// Handler serves the metrics in the Prometheus text format. On a loopback
// listen address it needs no key (like the MCP endpoints); elsewhere it
// needs the API key that key returns, sent as the API takes it. Browsers
// acting for a page of another origin are refused either way, and so is a
// request on a loopback address whose Host is not loopback (DNS
// rebinding), as the MCP endpoints refuse it.
func (m *Metrics) Handler(listen string, key func() string) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	loopback := httpauth.IsLoopback(listen)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := httpauth.CheckOrigin(r); err != nil {
			httpauth.WriteError(w, err)
			return
		}
		if err := httpauth.CheckHost(r); err != nil {
			httpauth.WriteError(w, err)
			return
		}
		if !loopback && !httpauth.KeyMatches(httpauth.APIKeyFrom(r), key()) {
			httpauth.WriteError(w, mcpproxy.Errorf(mcpproxy.EUNAUTHORIZED, "missing or wrong API key: send it as X-API-Key header, Authorization: Bearer or ?apikey="))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// stateCollector reads gauges from the state view and the event bus at
// scrape time.
type stateCollector struct {
	view    *stateview.View
	indexed func() int
}

var (
	descServers = prometheus.NewDesc("mcpproxy_servers",
		"Configured upstream servers by state.", []string{"state"}, nil)
	descQuarantined = prometheus.NewDesc("mcpproxy_servers_quarantined",
		"Servers quarantined until a person approves them.", nil, nil)
	descToolsUsable = prometheus.NewDesc("mcpproxy_tools_usable",
		"Approved tools of ready, approved servers.", nil, nil)
	descToolsIndexed = prometheus.NewDesc("mcpproxy_tools_indexed",
		"Tools in the search index.", nil, nil)
	descSubscribers = prometheus.NewDesc("mcpproxy_event_subscribers",
		"Subscribers of the internal event bus (/events streams, the tool catalog).", nil, nil)
	descDrops = prometheus.NewDesc("mcpproxy_event_subscriber_drops_total",
		"Event bus subscribers dropped for falling behind.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descServers
	ch <- descQuarantined
	ch <- descToolsUsable
	if c.indexed != nil {
		ch <- descToolsIndexed
	}
	ch <- descSubscribers
	ch <- descDrops
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.view.Load()
	byState, usable := snap.Counts()
	for _, st := range mcpproxy.AllStates {
		ch <- prometheus.MustNewConstMetric(descServers, prometheus.GaugeValue, float64(byState[st]), string(st))
	}
	quarantined := 0
	for srv := range snap.All() {
		if srv.Quarantined {
			quarantined++
		}
	}
	ch <- prometheus.MustNewConstMetric(descQuarantined, prometheus.GaugeValue, float64(quarantined))
	ch <- prometheus.MustNewConstMetric(descToolsUsable, prometheus.GaugeValue, float64(usable))
	if c.indexed != nil {
		ch <- prometheus.MustNewConstMetric(descToolsIndexed, prometheus.GaugeValue, float64(c.indexed()))
	}
	subs, drops := c.view.Bus.Stats()
	ch <- prometheus.MustNewConstMetric(descSubscribers, prometheus.GaugeValue, float64(subs))
	ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(drops))
}

// Middleware counts every request handled by next by route and status.
// The response writer it passes on keeps http.Flusher and Unwrap, so
// streams (/events, /sse, streamable HTTP) flush as before.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := Route(r.URL.Path)
		sw := &httpauth.StatusWriter{ResponseWriter: w}
		defer func() {
			code := sw.Status()
			if code == 0 {
				code = http.StatusOK
			}
			m.httpRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
			m.httpTime.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

// Route classifies a request path into one of a fixed set of routes, so
// the label never carries a raw path.
func Route(path string) string {
	switch {
	case path == "/api/v1" || strings.HasPrefix(path, "/api/v1/"):
		return "/api/v1/"
	case path == "/mcp" || path == "/mcp/":
		return "/mcp"
	case path == "/mcp/all" || path == "/mcp/all/":
		return "/mcp/all"
	case strings.HasPrefix(path, "/mcp/server/"):
		return "/mcp/server/{name}"
	case path == "/sse" || strings.HasPrefix(path, "/sse/"):
		return "/sse"
	case path == "/events":
		return "/events"
	case path == "/ui" || strings.HasPrefix(path, "/ui/"):
		return "/ui/"
	case path == "/metrics", path == "/healthz", path == "/readyz":
		return path
	}
	return "other"
}
