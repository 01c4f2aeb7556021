package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The bigresult scenario runs one daemon with one stdio upstream whose tool
// "big" returns one text of -big-bytes bytes (testupstream big-result), and
// calls it through /mcp (call_tool, truncated and cached for read_cache),
// /mcp/all (big__big, likewise) and /mcp/server/big (the whole result
// passed through; also with a progress token from a client that declared
// sampling, as many clients do), 1 and then bigConcurrent at once. For each phase it
// reports the daemon's peak RSS (VmHWM, reset before the phase through
// /proc/PID/clear_refs, and VmRSS sampled every bigSample, whichever is
// higher) and its RSS once the daemon has settled after the phase, against
// its idle RSS measured in the same run. Then it makes bigCacheResults more
// calls through /mcp and reports the size of the result cache on disk and
// of the store file.
const (
	bigConcurrent   = 4
	bigCacheResults = 16
	bigSample       = 5 * time.Millisecond
	bigSettle       = 40 * time.Second // the daemon returns memory after 3 s of quiet, at most every 30 s
)

type bigPhase struct {
	path       string
	calls      int
	peakKiB    int64
	afterKiB   int64 // right after the calls returned
	settledKiB int64
	settleIn   time.Duration
	elapsed    time.Duration
}

type bigReport struct {
	size       int
	sessions   int
	idleKiB    int64
	phases     []bigPhase
	cacheBytes int64
	cacheFiles int
	storeBytes int64
	cacheMax   int64
}

// runBigResult measures the daemon under tool results of o.bigBytes bytes.
func runBigResult(ctx context.Context, o options) (_ string, err error) {
	entry, err := stdioEntry("big", testupstream.ModeBigResult, map[string]string{testupstream.EnvBigBytes: strconv.Itoa(o.bigBytes)})
	if err != nil {
		return "", err
	}
	d, err := startDaemon(ctx, o.bin, []map[string]any{entry}, map[string]any{"call_tool_timeout": "10m"})
	if err != nil {
		return "", err
	}
	defer func() {
		if _, serr := d.stop(); err == nil && serr != nil {
			err = serr
		}
	}()
	if err := d.waitIndexed(ctx, []string{"big"}, 0, time.Minute); err != nil {
		return "", err
	}
	var sessions []*mcp.ClientSession
	defer func() { closeAll(sessions) }()
	open := func(path string, opts *mcp.ClientOptions) (*mcp.ClientSession, error) {
		cs, err := connectHTTPWith(ctx, d.Base+path, opts)
		if err == nil {
			sessions = append(sessions, cs)
		}
		return cs, err
	}
	type bigPath struct {
		name, endpoint, tool string
		args                 map[string]any
		whole                bool // the client gets the whole result
		asking               bool // with a progress token, from a client that declared sampling
	}
	paths := []bigPath{
		{"`/mcp` `call_tool` big:big", "/mcp", "call_tool", map[string]any{"name": "big:big"}, false, false},
		{"`/mcp/all` big__big", "/mcp/all", "big__big", map[string]any{}, false, false},
		{"`/mcp/server/big` big", "/mcp/server/big", "big", map[string]any{}, true, false},
		{"`/mcp/server/big` big, progress token, sampling client", "/mcp/server/big", "big", map[string]any{}, true, true},
	}
	// One session per concurrent client and path, all opened before the
	// idle measurement.
	clients := map[string][]*mcp.ClientSession{}
	for _, p := range paths {
		var opts *mcp.ClientOptions
		if p.asking {
			opts = samplingOptions
		}
		for range bigConcurrent {
			cs, err := open(p.endpoint, opts)
			if err != nil {
				return "", err
			}
			clients[p.name] = append(clients[p.name], cs)
		}
	}
	rep := &bigReport{size: o.bigBytes, sessions: len(sessions), cacheMax: 256 << 20}
	d.waitQuiet(ctx, 10*time.Second)
	rep.idleKiB = d.settledRSS(ctx, 0, bigSettle)
	logf("bigresult: idle RSS %.1f MiB", float64(rep.idleKiB)/1024)

	for _, n := range []int{1, bigConcurrent} {
		for _, p := range paths {
			logf("bigresult: %s, %d at once…", p.name, n)
			ph := bigPhase{path: p.name, calls: n}
			stop := d.samplePeak()
			t := time.Now()
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				cs := clients[p.name][i]
				wg.Go(func() { errs[i] = bigCall(ctx, cs, p.tool, p.args, o.bigBytes, p.whole, p.asking) })
			}
			wg.Wait()
			ph.elapsed = time.Since(t)
			ph.peakKiB = stop()
			ph.afterKiB = d.rssKiB()
			if err := errors.Join(errs...); err != nil {
				return "", fmt.Errorf("%s, %d at once: %w", p.name, n, err)
			}
			s := time.Now()
			ph.settledKiB = d.settledRSS(ctx, rep.idleKiB, bigSettle)
			ph.settleIn = time.Since(s)
			rep.phases = append(rep.phases, ph)
		}
	}

	logf("bigresult: %d results through /mcp into the result cache…", bigCacheResults)
	cs := clients[paths[0].name][0]
	for range bigCacheResults {
		if err := bigCall(ctx, cs, "call_tool", map[string]any{"name": "big:big"}, o.bigBytes, false, false); err != nil {
			return "", fmt.Errorf("cache: %w", err)
		}
	}
	rep.cacheBytes, rep.cacheFiles = dirSize(filepath.Join(d.dir, "data", "cache", "results"))
	rep.storeBytes = d.storeBytes()
	return rep.render(), nil
}

// bigCall makes one call, with a progress token if progress, and checks
// its result: the whole text of size bytes, or (truncated) a prefix of it
// with a read_cache key.
func bigCall(ctx context.Context, cs *mcp.ClientSession, tool string, args map[string]any, size int, whole, progress bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	params := &mcp.CallToolParams{Name: tool, Arguments: args}
	if progress {
		params.Meta = mcp.Meta{"progressToken": "mcpbench"}
	}
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		return fmt.Errorf("call %s: %w", tool, err)
	}
	text := testupstream.Text(res)
	if res.IsError {
		return fmt.Errorf("call %s: tool error: %.300s", tool, text)
	}
	if whole {
		if len(text) != size {
			return fmt.Errorf("call %s: %d bytes, want %d", tool, len(text), size)
		}
		return nil
	}
	if !strings.Contains(text, "read_cache with key") {
		return fmt.Errorf("call %s: the truncated result names no cache key: %.300q", tool, text[max(0, len(text)-300):])
	}
	return nil
}

// samplePeak starts sampling the daemon's RSS; the function it returns
// stops and returns the peak: the higher of the samples and VmHWM, which
// is reset first where the kernel allows.
func (d *daemon) samplePeak() func() int64 {
	os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", d.Pid()), []byte("5"), 0)
	stop := make(chan struct{})
	peak := make(chan int64)
	go func() {
		var hi int64
		t := time.NewTicker(bigSample)
		defer t.Stop()
		for {
			hi = max(hi, d.rssKiB())
			select {
			case <-stop:
				peak <- max(hi, procStatusKiB(d.Pid(), "VmHWM:"))
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { close(stop); return <-peak }
}

// settledRSS waits until the daemon's RSS is within 8 MiB of target (or,
// with target 0, stops falling), at most limit, and returns it.
func (d *daemon) settledRSS(ctx context.Context, target int64, limit time.Duration) int64 {
	deadline := time.Now().Add(limit)
	prev := d.rssKiB()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(500 * time.Millisecond)
		cur := d.rssKiB()
		if target > 0 && cur <= target+8<<10 || target == 0 && cur >= prev-256 && cur <= prev+256 {
			return cur
		}
		prev = cur
	}
	return d.rssKiB()
}

// dirSize is the total size and number of the files in dir.
func dirSize(dir string) (int64, int) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0
	}
	var n int64
	files := 0
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
			files++
		}
	}
	return n, files
}

func mib(kib int64) string { return strconv.FormatFloat(float64(kib)/1024, 'f', 1, 64) + " MiB" }

func (r *bigReport) render() string {
	var b bytes.Buffer
	sizeMiB := float64(r.size) / (1 << 20)
	fmt.Fprintf(&b, "One stdio upstream (this binary as testupstream `big-result`) whose tool returns one text of %d bytes (%.1f MiB); "+
		"default configuration (`tool_response_limit` 20,000 characters, `result_cache_max_bytes` 256 MiB), `call_tool_timeout` 10m. "+
		"Each phase makes the call once, or %d times at once on %d sessions, through one endpoint. Peak: the daemon's VmHWM "+
		"(reset through `/proc/PID/clear_refs` before the phase) or VmRSS sampled every %v, whichever is higher. After: RSS when the "+
		"calls returned; settled: once RSS is back within 8 MiB of idle, or after %v (the daemon returns freed memory after 3 s "+
		"without state changes, at most every 30 s).\n\n", r.size, sizeMiB, bigConcurrent, bigConcurrent, bigSample, bigSettle)
	fmt.Fprintf(&b, "Idle RSS (baseline, same run, %d sessions open): %s.\n\n", r.sessions, mib(r.idleKiB))
	b.WriteString("| path | calls at once | time | peak RSS | peak − idle | (peak − idle) / result size | RSS after | RSS settled (after) |\n|---|---|---|---|---|---|---|---|\n")
	for _, p := range r.phases {
		grow := p.peakKiB - r.idleKiB
		fmt.Fprintf(&b, "| %s | %d | %.1f s | %s | %s | %.2f | %s | %s (%.0f s) |\n", p.path, p.calls, p.elapsed.Seconds(), mib(p.peakKiB), mib(grow),
			float64(grow)*1024/float64(r.size), mib(p.afterKiB), mib(p.settledKiB), p.settleIn.Seconds())
	}
	fmt.Fprintf(&b, "\nResult cache after %d more results through `/mcp`: %d files, %.1f MiB on disk under `cache/results` (cap %.0f MiB); store file `mcpproxy.db` %.1f MiB.\n",
		bigCacheResults, r.cacheFiles, float64(r.cacheBytes)/(1<<20), float64(r.cacheMax)/(1<<20), float64(r.storeBytes)/(1<<20))
	return b.String()
}
