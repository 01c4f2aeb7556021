// Command mcpbench measures a real mcpproxy binary the way a user runs it:
// it writes configs, starts `mcpproxy serve` on them (listening on
// 127.0.0.1:0), serves the streamable-HTTP upstreams itself and provides
// the stdio ones by re-executing itself as a test upstream, then drives the
// daemon over real HTTP and MCP clients. Scenarios, chosen with -scenarios:
//
//   - startup: with 10, 100 and 1,000 streamable-HTTP upstreams, then as
//     many stdio ones (a third of them hanging forever), the time to
//     /readyz 200 and to every answering upstream ready; GET /api/v1/servers
//     and /api/v1/status while upstreams connect and their tools are
//     indexed, against GET /healthz in the same loop; mcpproxy's memory
//     (the daemon's RSS and private memory, and its keeper's; the servers
//     excluded), its growth per upstream, and the exit time after SIGTERM.
//   - calls: an echo tool call through /mcp (call_tool), /mcp/all and
//     /mcp/server/{name}, interleaved with the same call made directly to
//     the same upstream, for a stdio and a streamable-HTTP upstream; then
//     calls per second with 1, 16 and 64 concurrent clients, through /mcp
//     and directly.
//   - search: retrieve_tools with 1,000, 10,000 and 50,000 tools indexed,
//     against an MCP ping on the same session; then the same searches while
//     one server is restarted (and so re-indexed) over and over, against
//     quiet phases in the same run.
//   - bigresult: a stdio tool returning one text of -big-bytes (50 MiB)
//     through /mcp (call_tool), /mcp/all and /mcp/server/{name}, 1 and 4
//     at once: the daemon's peak RSS and its RSS after, against its idle
//     RSS; then the result cache's size on disk after 16 such results.
//   - soak (only with -soak DURATION): mixed traffic while some upstreams
//     crash and others are restarted every few seconds; RSS and goroutines
//     at the start and the end, and the calls to healthy upstreams that
//     failed (there must be none).
//
// It prints a Markdown report and, with -write FILE, replaces the part of
// FILE between the mcpbench markers with it (docs/BENCHMARKS.md); the
// bigresult report goes between markers of its own, so that either can be
// re-run alone. It stops
// every process and server it started, and exits non-zero on any failure.
//
// Usage:
//
//	go build -o bin/mcpproxy ./cmd/mcpproxy && go run ./cmd/mcpbench -write docs/BENCHMARKS.md
//	go run ./cmd/mcpbench -scenarios soak -soak 10m
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	beginMarker    = "<!-- mcpbench:begin -->"
	endMarker      = "<!-- mcpbench:end -->"
	bigBeginMarker = "<!-- mcpbench-bigresult:begin -->"
	bigEndMarker   = "<!-- mcpbench-bigresult:end -->"
)

var allScenarios = []string{"startup", "calls", "search", "bigresult", "soak"}

// options are the command-line settings.
type options struct {
	bin          string
	scenarios    map[string]bool
	sizes        []int
	tools        int
	calls        int
	tputDuration time.Duration
	toolCounts   []int
	searches     int
	soak         time.Duration
	bigBytes     int
	write        string
}

func main() {
	// mcpbench is also the stdio test upstream: mcpproxy and the direct
	// baseline start this same binary with testupstream.EnvMode set.
	testupstream.RunIfChild()

	var o options
	flag.StringVar(&o.bin, "mcpproxy", "bin/mcpproxy", "the mcpproxy binary to measure")
	scen := flag.String("scenarios", "", "scenarios to run, comma separated, from "+strings.Join(allScenarios, ",")+
		" (default: all but soak, plus soak when -soak is given)")
	sizesFlag := flag.String("sizes", "10,100,1000", "startup: numbers of upstreams, comma separated")
	flag.IntVar(&o.tools, "tools", 20, "startup: tools per answering upstream")
	flag.IntVar(&o.calls, "calls", 2000, "calls: measured calls per path and upstream")
	flag.DurationVar(&o.tputDuration, "tput-duration", 2*time.Second, "calls: length of each throughput phase (four per client count and upstream)")
	toolCounts := flag.String("search-tools", "1000,10000,50000", "search: numbers of tools indexed, comma separated, multiples of 200")
	flag.IntVar(&o.searches, "searches", 1000, "search: measured retrieve_tools calls per size and phase kind")
	flag.IntVar(&o.bigBytes, "big-bytes", testupstream.DefaultBigBytes, "bigresult: bytes of the big tool's result")
	flag.DurationVar(&o.soak, "soak", 0, "run the soak scenario for this long (for example 10m)")
	flag.StringVar(&o.write, "write", "", "replace the mcpbench section of this Markdown file with the report")
	flag.Parse()

	var err error
	if o.sizes, err = intList(*sizesFlag, 3); err != nil {
		fatalf("-sizes: %v", err)
	}
	if o.toolCounts, err = intList(*toolCounts, 200); err != nil {
		fatalf("-search-tools: %v", err)
	}
	o.scenarios = map[string]bool{}
	if *scen == "" {
		for _, s := range allScenarios {
			o.scenarios[s] = s != "soak" || o.soak > 0
		}
	} else {
		for _, s := range strings.Split(*scen, ",") {
			s = strings.TrimSpace(s)
			if !slices.Contains(allScenarios, s) {
				fatalf("-scenarios: unknown scenario %q, want some of %s", s, strings.Join(allScenarios, ","))
			}
			o.scenarios[s] = true
		}
	}
	if o.scenarios["soak"] && o.soak <= 0 {
		fatalf("-scenarios soak needs -soak DURATION, for example -soak 10m")
	}
	if _, err := os.Stat(o.bin); err != nil {
		fatalf("-mcpproxy: %v (build it with: go build -o bin/mcpproxy ./cmd/mcpproxy)", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	report, bigReport, err := runAll(ctx, o)
	stop()
	if err != nil {
		fatalf("%v", err)
	}
	if report != "" {
		fmt.Print(report)
	}
	if bigReport != "" {
		fmt.Print(bigReport)
	}
	if o.write != "" {
		if report != "" {
			if err := replaceSection(o.write, report, beginMarker, endMarker, "mcpbench: the daemon as a user runs it"); err != nil {
				fatalf("-write: %v", err)
			}
		}
		if bigReport != "" {
			if err := replaceSection(o.write, bigReport, bigBeginMarker, bigEndMarker, "mcpbench: a 50 MB tool result"); err != nil {
				fatalf("-write: %v", err)
			}
		}
		fmt.Fprintf(os.Stderr, "mcpbench: wrote %s\n", o.write)
	}
}

// header is the first lines of a report: the command, the machine, the load.
func header() string {
	return fmt.Sprintf("Generated by `%s` on %s: %d CPUs, %s, %s/%s; load average %s at the start.\n",
		strings.Join(append([]string{"go run ./cmd/mcpbench"}, os.Args[1:]...), " "), time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, loadAvg()) +
		"mcpbench, the daemon and the upstreams share the machine's CPUs; compare a number with its baseline from the same run.\n"
}

// runAll runs the chosen scenarios in order and returns the report and the
// bigresult report (each empty when none of its scenarios ran). Every
// daemon, child process and server a scenario starts is stopped before it
// returns, also on error.
func runAll(ctx context.Context, o options) (report, bigReport string, err error) {
	if o.scenarios["bigresult"] {
		head, load0 := header(), loadAvg()
		r, err := runBigResult(ctx, o)
		if err != nil {
			return "", "", fmt.Errorf("bigresult: %w", err)
		}
		bigReport = head + fmt.Sprintf("\nLoad average %s → %s.\n\n", load0, loadAvg()) + r
	}
	if !o.scenarios["startup"] && !o.scenarios["calls"] && !o.scenarios["search"] && !o.scenarios["soak"] {
		return "", bigReport, nil
	}
	report, err = runMain(ctx, o)
	return report, bigReport, err
}

// runMain runs the scenarios of the main report.
func runMain(ctx context.Context, o options) (string, error) {
	up, err := startUpstreams(o.tools)
	if err != nil {
		return "", fmt.Errorf("upstreams: %w", err)
	}
	defer up.Close()

	var b bytes.Buffer
	b.WriteString(header())
	if o.scenarios["startup"] {
		load0 := loadAvg()
		var results []result
		for _, kind := range []string{"streamable-http", "stdio"} {
			for _, n := range o.sizes {
				logf("startup: %d %s upstreams…", n, kind)
				r, err := run(ctx, o.bin, up.Addr().String(), kind, n, o.tools)
				if err != nil {
					return "", fmt.Errorf("startup, %d %s upstreams: %w", n, kind, err)
				}
				results = append(results, r)
			}
		}
		fmt.Fprintf(&b, "\n### Startup, list endpoints and memory\n\nLoad average %s → %s.\n", load0, loadAvg())
		b.WriteString(render(results, o.tools))
	}
	if o.scenarios["calls"] {
		load0 := loadAvg()
		r, err := runCalls(ctx, o, up)
		if err != nil {
			return "", fmt.Errorf("calls: %w", err)
		}
		fmt.Fprintf(&b, "\n### Tool calls: through the proxy and direct\n\nLoad average %s → %s.\n", load0, loadAvg())
		b.WriteString(r)
	}
	if o.scenarios["search"] {
		load0 := loadAvg()
		r, err := runSearch(ctx, o, up)
		if err != nil {
			return "", fmt.Errorf("search: %w", err)
		}
		fmt.Fprintf(&b, "\n### Tool search\n\nLoad average %s → %s.\n", load0, loadAvg())
		b.WriteString(r)
	}
	if o.scenarios["soak"] {
		load0 := loadAvg()
		r, err := runSoak(ctx, o, up)
		if err != nil {
			fmt.Fprint(os.Stderr, r)
			return "", fmt.Errorf("soak: %w", err)
		}
		fmt.Fprintf(&b, "\n### Soak\n\nLoad average %s → %s.\n", load0, loadAvg())
		b.WriteString(r)
	}
	fmt.Fprintf(&b, "\nLoad average at the end: %s.\n", loadAvg())
	return b.String(), nil
}

func intList(s string, least int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < least {
			return nil, fmt.Errorf("want numbers of at least %d, got %q", least, f)
		}
		out = append(out, n)
	}
	return out, nil
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mcpbench: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mcpbench: "+format+"\n", args...)
}

// loadAvg is the 1-minute load average, as uptime shows it.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b))[0]
}

// upstreams serves every HTTP benchmark upstream from this process:
//
//	/ok/N          a testupstream server (echo, …) with the given number of extra tools
//	/hang/N        accepts requests and never answers them
//	/catalog/I/N   catalog server I with N realistic tools (see catalog.go)
type upstreams struct {
	*http.Server
	ln net.Listener

	mu      sync.Mutex
	catalog map[string]*mcp.Server // guarded by mu
}

func (u *upstreams) Addr() net.Addr { return u.ln.Addr() }

// URL is the full URL of an upstream path such as "/ok/1".
func (u *upstreams) URL(path string) string { return "http://" + u.ln.Addr().String() + path }

func (u *upstreams) Close() error { return u.Server.Close() }

func startUpstreams(tools int) (*upstreams, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstreams{ln: ln, catalog: map[string]*mcp.Server{}}
	srv := testupstream.NewServer(testupstream.Options{Name: "bench", Tools: tools})
	ok := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	mux := http.NewServeMux()
	mux.Handle("/ok/", ok)
	mux.HandleFunc("/hang/", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	})
	mux.Handle("/catalog/{i}/{n}", mcp.NewStreamableHTTPHandler(u.catalogServer, nil))
	u.Server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go u.Serve(ln)
	return u, nil
}

// catalogServer returns the catalog server a request's path names, built
// once per path. It returns nil, which the SDK answers with 400, for a
// malformed path.
func (u *upstreams) catalogServer(r *http.Request) *mcp.Server {
	i, err1 := strconv.Atoi(r.PathValue("i"))
	n, err2 := strconv.Atoi(r.PathValue("n"))
	if err := errors.Join(err1, err2); err != nil || i < 0 || n < 0 {
		return nil
	}
	return u.catalogAt(i, n)
}

// catalogAt returns catalog server i with n tools, building it on first use.
func (u *upstreams) catalogAt(i, n int) *mcp.Server {
	u.mu.Lock()
	defer u.mu.Unlock()
	key := strconv.Itoa(i) + "/" + strconv.Itoa(n)
	s := u.catalog[key]
	if s == nil {
		s = newCatalogServer(i, n)
		u.catalog[key] = s
	}
	return s
}

// replaceSection puts report between the markers begin and end in path,
// appending them under a heading at the end if the file has none.
func replaceSection(path, report, begin, end, heading string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(data)
	block := begin + "\n" + report + end
	i, j := strings.Index(s, begin), strings.Index(s, end)
	switch {
	case i >= 0 && j > i:
		s = s[:i] + block + s[j+len(end):]
	case i < 0 && j < 0:
		s = strings.TrimRight(s, "\n") + "\n\n## " + heading + "\n\n" + block + "\n"
	default:
		return fmt.Errorf("%s: unbalanced mcpbench markers", path)
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
