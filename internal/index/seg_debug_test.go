package index

import (
	"context"
	"fmt"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

func BenchmarkDebugSegments(b *testing.B) {
	servers := benchTools(10_000)
	for _, per := range []int{10000, 2000, 500, 50} {
		b.Run(fmt.Sprintf("perSeg=%d", per), func(b *testing.B) {
			// Regroup tools into servers of per tools each.
			var all []mcpproxy.Tool
			for _, k := range sortedKeys(servers) {
				all = append(all, servers[k]...)
			}
			m := map[string][]mcpproxy.Tool{}
			for i, t := range all {
				k := fmt.Sprintf("s%04d", i/per)
				m[k] = append(m[k], t)
			}
			x := newTestIndex(b, m)
			ctx := context.Background()
			i := 0
			for b.Loop() {
				if _, err := x.Search(ctx, benchQueries[i%len(benchQueries)], 15); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
