package index

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// BenchmarkSearch_WhileReindexing measures searches over 10,000 tools while
// another goroutine re-indexes one server of 50 tools over and over, as fast
// as SetServer returns (alternating between two versions, so every call does
// the work), against searches of the same index while nothing writes (the
// baseline). The two alternate in phases of 100 searches, so that both see
// the same machine load; the writer is paused between two SetServer calls,
// so no write overlaps a baseline phase. Each iteration is one search; the
// percentiles of each phase kind, their ratios and the writer's rate are the
// metrics.
func BenchmarkSearch_WhileReindexing(b *testing.B) {
	for _, kind := range indexKinds {
		b.Run(kind, func(b *testing.B) { benchSearchWhileReindexing(b, kind) })
	}
}

func benchSearchWhileReindexing(b *testing.B, kind string) {
	servers := benchTools(10_000)
	x := newSettledIndex(b, kind, servers, defaultMergePolicy.fanIn-1)
	name := sortedKeys(servers)[0]
	v1 := servers[name]
	v2 := slices.Clone(v1)
	for i := range v2 {
		v2[i].Description += " Changed."
	}
	versions := [2][]mcpproxy.Tool{v2, v1}

	// run switches the writer on (true) or off (false). It is unbuffered:
	// a send returns once the writer has taken it, between two SetServers.
	run := make(chan bool)
	done := make(chan struct{})
	writes := 0 // read after a send on run returns
	go func() {
		defer close(done)
		on := false
		for {
			if !on {
				r, ok := <-run
				if !ok {
					return
				}
				on = r
				continue
			}
			select {
			case r, ok := <-run:
				if !ok {
					return
				}
				on = r
				continue
			default:
			}
			if err := x.SetServer(name, versions[writes%2]); err != nil {
				b.Error(err)
				return
			}
			writes++
		}
	}()
	defer func() {
		close(run)
		<-done
	}()

	ctx := context.Background()
	search := func(q string) time.Duration {
		start := time.Now()
		hits, err := x.Search(ctx, q, DefaultLimit)
		d := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if len(hits) == 0 {
			b.Fatalf("no hits for %q", q)
		}
		return d
	}
	for i := range 100 {
		search(benchQueries[i%len(benchQueries)])
	}
	segmentsBefore := segmentCount(b, x)

	const phase = 100
	var base, busy []time.Duration
	var writing time.Duration // time the writer was on
	var since time.Time
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		reindexing := i/phase%2 == 1
		if i%phase == 0 {
			run <- reindexing
			if reindexing {
				since = time.Now()
			} else if i > 0 {
				writing += time.Since(since)
			}
		}
		d := search(benchQueries[i%len(benchQueries)])
		if reindexing {
			busy = append(busy, d)
		} else {
			base = append(base, d)
		}
		i++
	}
	run <- false
	if i/phase%2 == 1 {
		writing += time.Since(since)
	}
	b.StopTimer()
	if len(base) == 0 || len(busy) == 0 {
		b.Fatalf("run at least %d iterations (-benchtime %dx)", phase+1, 2*phase)
	}
	b50, b99, bmax := benchQuantile(base, 0.50), benchQuantile(base, 0.99), benchQuantile(base, 1)
	r50, r99, rmax := benchQuantile(busy, 0.50), benchQuantile(busy, 0.99), benchQuantile(busy, 1)
	b.ReportMetric(ms(b50), "idle-p50-ms")
	b.ReportMetric(ms(b99), "idle-p99-ms")
	b.ReportMetric(ms(bmax), "idle-max-ms")
	b.ReportMetric(ms(r50), "reindex-p50-ms")
	b.ReportMetric(ms(r99), "reindex-p99-ms")
	b.ReportMetric(ms(rmax), "reindex-max-ms")
	b.ReportMetric(float64(r50)/float64(b50), "p50-ratio")
	b.ReportMetric(float64(r99)/float64(b99), "p99-ratio")
	b.ReportMetric(float64(writes)/writing.Seconds(), "setserver/s")
	b.ReportMetric(float64(segmentsBefore), "segments-before")
	b.ReportMetric(float64(segmentCount(b, x)), "segments-after")
}

// benchQuantile returns the q-quantile (0 < q <= 1) of ds by the
// nearest-rank method; ds is sorted in place.
func benchQuantile(ds []time.Duration, q float64) time.Duration {
	slices.Sort(ds)
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
