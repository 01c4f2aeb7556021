package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/httpapi"
	"github.com/mcpproxy/mcpproxy/internal/httpauth"
	"github.com/mcpproxy/mcpproxy/internal/index"
	"github.com/mcpproxy/mcpproxy/internal/keeper"
	"github.com/mcpproxy/mcpproxy/internal/mcpserver"
	"github.com/mcpproxy/mcpproxy/internal/memtune"
	"github.com/mcpproxy/mcpproxy/internal/metrics"
	"github.com/mcpproxy/mcpproxy/internal/oauth"
	"github.com/mcpproxy/mcpproxy/internal/pinning"
	"github.com/mcpproxy/mcpproxy/internal/relay"
	"github.com/mcpproxy/mcpproxy/internal/scan"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/store"
	"github.com/mcpproxy/mcpproxy/internal/supervisor"
	"github.com/mcpproxy/mcpproxy/internal/token"
	"github.com/mcpproxy/mcpproxy/internal/upstream"
	"github.com/mcpproxy/mcpproxy/internal/webui"
	"github.com/spf13/cobra"
)

type serveFlags struct {
	listen    string
	dataDir   string
	logLevel  string
	logFormat string
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the mcpproxy daemon",
		Long: `Run the daemon: connect to every configured upstream server and serve the
REST API (/api/v1), the event stream (/events) and health checks.

With no config file, one is created with defaults and a fresh API key.
MCPPROXY_LISTEN, MCPPROXY_API_KEY and MCPPROXY_DATA_DIR override the file;
flags override those. A listen address other than loopback needs an API
key of at least 16 characters.`,
		Example: "  mcpproxy serve\n  mcpproxy serve --listen 127.0.0.1:9090 --log-level debug",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path, _ := cmd.Flags().GetString("config")
			m := &Main{ConfigPath: path, Flags: f, Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr()}
			if err := m.Run(cmd.Context()); err != nil {
				m.Close()
				return err
			}
			<-cmd.Context().Done()
			return m.Close()
		},
	}
	cmd.Flags().StringVarP(&f.listen, "listen", "l", "", "address to listen on (default 127.0.0.1:8080)")
	cmd.Flags().StringVarP(&f.dataDir, "data-dir", "d", "", "data directory (default ~/.mcpproxy)")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	cmd.Flags().StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	return cmd
}

// Main wires the daemon together: config, supervisor, HTTP server, watcher.
type Main struct {
	ConfigPath string
	Flags      serveFlags
	Stdout     io.Writer
	Stderr     io.Writer

	log      *slog.Logger
	writer   *config.Writer
	watcher  *config.Watcher
	sup      *supervisor.Supervisor
	idx      *index.Index
	store    *store.Store
	pins     *pinning.Pins
	activity *activity.Log
	oauth    *oauth.Manager
	mcp      *mcpserver.Server
	srv      *http.Server
	cancel   context.CancelFunc
	served   chan struct{}
	ready    atomic.Bool
	tuner    *memtune.Tuner
	spawner  keeper.Spawner // starts stdio servers; nil: as our own children
	// daemonFile is the daemon.json this process wrote, removed by Close.
	daemonFile string
}

func defaultHome() string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "."
	}
	return filepath.Join(home, ".mcpproxy")
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, &exitError{2, fmt.Errorf("--log-level: want debug, info, warn or error, got %q", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, &exitError{2, fmt.Errorf("--log-format: want text or json, got %q", format)}
}

func generateKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Run loads the config, starts serving and the upstreams, prints the startup
// block and returns. Close stops everything.
func (m *Main) Run(ctx context.Context) error {
	log, err := newLogger(m.Stderr, m.Flags.logLevel, m.Flags.logFormat)
	if err != nil {
		return err
	}
	m.log = log
	slog.SetDefault(log)
	if exe, err := os.Executable(); err != nil {
		log.Warn("cannot find own executable; stdio servers' children may outlive a kill -9", "error", err)
	} else {
		m.spawner = keeper.New([]string{exe, keeper.Arg})
	}

	if m.ConfigPath == "" {
		m.ConfigPath = filepath.Join(defaultHome(), "mcp_config.json")
	}
	if abs, err := filepath.Abs(m.ConfigPath); err == nil {
		m.ConfigPath = abs
	}
	created, err := config.CreateDefault(m.ConfigPath, generateKey())
	if err != nil {
		return fmt.Errorf("create config: %w", err)
	}
	cfg, warnings, err := config.Load(m.ConfigPath)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		log.Warn("config: " + w)
	}
	// The watcher learns about our own writes so they are not reported back
	// as hand edits.
	var watcher atomic.Pointer[config.Watcher]
	m.writer = config.NewWriter(m.ConfigPath, config.WithOnWrite(func(data []byte) {
		if w := watcher.Load(); w != nil {
			w.Seen(data)
		}
	}))

	overrides := m.overrides()
	keySource := fmt.Sprintf("%s (\"api_key\")", m.ConfigPath)
	if overrides.APIKey != "" {
		keySource = "environment variable MCPPROXY_API_KEY"
	} else if cfg.APIKey == "" {
		key := generateKey()
		cfg, err = m.writer.Edit(ctx, func(d *config.Document) error { return d.SetTop("api_key", key) })
		if err != nil {
			return fmt.Errorf("save generated API key: %w", err)
		}
	}
	eff := cfg.Clone()
	overrides.Apply(eff)
	if err := checkExposure(eff.Listen, eff.APIKey); err != nil {
		return err
	}
	dataDir := eff.DataDir
	if err := os.MkdirAll(filepath.Join(dataDir, "logs"), 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}

	// The store's lock is what tells a second mcpproxy on the same data dir
	// that one is already running, so take it before the port.
	cacheMax := eff.ResultCacheMaxBytes
	if cacheMax == 0 {
		cacheMax = -1 // the store's zero is its default; the config's is off
	}
	st, err := store.Open(dataDir, store.Options{ResultCacheMaxBytes: cacheMax})
	if err != nil {
		return err
	}
	m.store = st
	// Large upstream messages are gathered here while they are read (see
	// upstream.Options.SpoolDir). Its files are unlinked as they are made;
	// where the system cannot (Windows), a crash may leave some, removed
	// here, under the store's lock.
	spoolDir := filepath.Join(dataDir, "cache", "spool")
	os.RemoveAll(spoolDir)
	if err := os.MkdirAll(spoolDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}

	ln, err := net.Listen("tcp", eff.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", eff.Listen, err)
	}
	listen := ln.Addr().String()

	view := stateview.New()
	view.SetConfigWarnings(warnings)
	pins, err := pinning.Open(st, pinning.Options{Publish: view.Bus.Publish, Scan: scan.Warnings, Logger: log})
	if err != nil {
		ln.Close()
		return err
	}
	m.pins = pins
	progress := relay.NewProgressRouter()
	hub := relay.NewHub()
	// Under the store's lock: one daemon per index directory.
	idx, err := index.Open(filepath.Join(dataDir, "index"), log)
	if err != nil {
		ln.Close()
		return err
	}
	m.idx = idx
	mets := metrics.New(metrics.Options{View: view, ToolsIndexed: idx.Len, Process: true})
	auth, err := oauth.Open(st, oauth.Options{
		Logger:  log,
		Publish: view.Bus.Publish,
		// A completed login reconnects the server with its new token.
		OnLogin: func(name string) { m.sup.Restart(name) },
	})
	if err != nil {
		ln.Close()
		return err
	}
	m.oauth = auth
	m.sup = supervisor.New(supervisor.Options{
		Actor: upstream.Options{Progress: progress, Hub: hub, OnConnect: mets.OnConnect, Auth: auth,
			Version: version, Spawner: m.spawner, SpoolDir: spoolDir},
		View:      view,
		Initial:   eff,
		Writer:    m.writer,
		DataDir:   dataDir,
		Overrides: overrides,
		Logger:    log,
		Pins:      pins,
		Logins:    auth,
		Index:     idx,
		OnRemove:  mets.Forget,
	})
	act, err := activity.Open(st, activity.Options{
		RetentionDays: eff.ActivityRetentionDays,
		MaxRecords:    eff.ActivityMaxRecords,
		Publish:       view.Bus.Publish,
		Redact:        m.sup.Redact,
		Logger:        log,
	})
	if err != nil {
		ln.Close()
		return err
	}
	m.activity = act
	tokens, err := token.Open(st, token.Options{})
	if err != nil {
		ln.Close()
		return err
	}
	m.mcp = mcpserver.New(mcpserver.Options{
		Tokens:   tokens,
		Backend:  m.sup,
		Index:    idx,
		Progress: progress,
		Hub:      hub,
		Store:    st,
		Pins:     m.sup.ApprovedTool,
		Activity: act,
		Metrics:  mets,
		Version:  version,
		Listen:   listen,
		Logger:   log,
	})
	api := httpapi.New(httpapi.Options{
		Search: func(ctx context.Context, q string, limit int) (any, error) {
			return m.mcp.Search(ctx, q, limit)
		},
		Explain: func(ctx context.Context, q string, limit int) (any, error) {
			return explainSearch(ctx, idx, q, limit, m.sup.Config().ToolsLimit)
		},
		Backend:    m.sup,
		Approvals:  m.sup,
		Activity:   act,
		Auth:       auth,
		Tokens:     tokens,
		Version:    version,
		ConfigPath: m.ConfigPath,
		Listen:     listen,
		LogDir:     filepath.Join(dataDir, "logs"),
		Logger:     log,
		Ready:      m.ready.Load,
	})
	baseCtx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	root := http.NewServeMux()
	root.Handle("/mcp", m.mcp)
	root.Handle("/mcp/", m.mcp)
	root.Handle("/sse", m.mcp)
	root.Handle("/sse/", m.mcp)
	root.Handle("/ui", webui.Handler())
	root.Handle("/ui/", webui.Handler())
	root.Handle("/metrics", mets.Handler(listen, func() string { return m.sup.Config().APIKey }))
	// The address a person types into a browser leads to the UI.
	root.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	root.Handle("/", api)
	m.srv = &http.Server{
		Handler:           mets.Middleware(root),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	m.served = make(chan struct{})
	go func() {
		defer close(m.served)
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "error", err)
		}
	}()
	m.sup.Apply(cfg)
	m.ready.Store(true)
	// After readiness, not before: the file is written durably (an fsync,
	// which can take a disk's while), and the CLI that reads it finds a
	// daemon that is ready.
	if m.daemonFile, err = writeDaemonFile(dataDir, listen); err != nil {
		log.Warn("cannot write daemon.json; CLI commands will need --url", "error", err)
	}
	_, gogc := os.LookupEnv("GOGC")
	m.tuner = memtune.Start(memtune.Options{Changes: func() uint64 { return view.Load().Version }}, gogc)
	m.watcher, err = config.NewWatcher(m.ConfigPath, 200*time.Millisecond, m.sup.ApplyFile)
	if err != nil {
		log.Warn("config hot reload unavailable", "error", err)
	} else {
		watcher.Store(m.watcher)
		if data, err := os.ReadFile(m.ConfigPath); err == nil {
			m.watcher.Seen(data)
		}
	}

	enabled := 0
	for _, s := range eff.Servers {
		if s.Enabled {
			enabled++
		}
	}
	note := ""
	if created {
		note = " (created with defaults)"
	}
	fmt.Fprintf(m.Stdout, `mcpproxy %s
  listen:    http://%s
  config:    %s%s
  data dir:  %s
  api key:   %s
  servers:   %d configured, %d enabled
  mcp:       http://%s/mcp  (all tools: /mcp/all, legacy SSE: /sse)
  api:       http://%s/api/v1/status (send X-API-Key)
  ui:        %s
`, version, listen, m.ConfigPath, note, dataDir, keySource, len(eff.Servers), enabled, listen, listen, uiLink(listen, eff.APIKey))
	return nil
}

// uiLink is the web UI's address with the API key, which the page moves
// into the browser's storage on first load. A wildcard listen address
// (0.0.0.0, [::]) is shown as 127.0.0.1, which a browser here can open.
func uiLink(listen, key string) string {
	host, port, err := net.SplitHostPort(listen)
	if err == nil {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			listen = net.JoinHostPort("127.0.0.1", port)
		}
	}
	return "http://" + listen + "/ui/?apikey=" + url.QueryEscape(key)
}

// minExposedKeyLen is the shortest API key accepted on a non-loopback
// listen address. Generated keys are 64 characters; this only stops a
// short key set by hand from guarding a daemon the network can reach.
const minExposedKeyLen = 16

// checkExposure refuses to serve on an address other machines can reach
// with a weak API key: there the key is all that stands between the
// network and starting processes through the REST API or MCP.
func checkExposure(listen, key string) error {
	if httpauth.IsLoopback(listen) || utf8.RuneCountInString(key) >= minExposedKeyLen {
		return nil
	}
	return fmt.Errorf("listen %s is not a loopback address: set an api_key of at least %d characters (or MCPPROXY_API_KEY) before exposing mcpproxy",
		listen, minExposedKeyLen)
}

// overrides are the environment's and the flags' settings over the file.
func (m *Main) overrides() config.Overrides {
	o := config.EnvOverrides(os.Getenv, defaultHome())
	if m.Flags.listen != "" {
		o.Listen = m.Flags.listen
	}
	if m.Flags.dataDir != "" {
		o.DataDir = m.Flags.dataDir
	}
	return o
}

// Close stops serving, stops every upstream and waits, within a few
// seconds even when upstreams hang. It returns what failed to close, each
// error named by its part; the rest is still closed.
func (m *Main) Close() error {
	var errs []error
	closed := func(part string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", part, err))
		}
	}
	if m.watcher != nil {
		closed("config watcher", m.watcher.Close())
	}
	if m.srv != nil && m.served != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		m.cancel() // ends /events streams so Shutdown does not wait on them
		if m.mcp != nil {
			// Ends tool calls in flight: their requests would hold
			// Shutdown, and the SDK's sessions Close, up to the call timeout.
			m.mcp.EndCalls()
		}
		if err := m.srv.Shutdown(ctx); err != nil {
			m.srv.Close()
		}
		cancel()
		<-m.served
	}
	removeDaemonFile(m.daemonFile)
	if m.mcp != nil {
		closed("mcp", m.mcp.Close())
	}
	if m.sup != nil {
		closed("supervisor", m.sup.Close())
	}
	// After the supervisor, which stopped the servers in order: the keeper
	// ends what is left.
	if c, ok := m.spawner.(io.Closer); ok {
		closed("keeper", c.Close())
	}
	if m.oauth != nil {
		closed("oauth", m.oauth.Close())
	}
	if m.idx != nil {
		closed("tool index", m.idx.Close())
	}
	if m.pins != nil {
		closed("approvals", m.pins.Close())
	}
	if m.activity != nil {
		closed("activity log", m.activity.Close())
	}
	if m.store != nil {
		closed("store", m.store.Close())
	}
	if m.writer != nil {
		closed("config writer", m.writer.Close())
	}
	if m.tuner != nil {
		m.tuner.Stop()
	}
	if m.log != nil && m.srv != nil {
		m.log.Info("stopped")
	}
	return errors.Join(errs...)
}
