package index

import (
	"fmt"
	"maps"
	"slices"

	"github.com/blevesearch/bleve/v2"
)

// A search pays for every bleve segment, and each writer batch makes one:
// scorch merges segments only when it persists them, which an in-memory
// index never does. The Index merges instead by re-indexing, in one batch,
// the servers of several segments: re-indexing a document id deletes it from
// its old segment, bleve drops segments left with no live document, and the
// batch becomes the one segment that replaces them.
//
// On disk bleve merges segments itself, and the Index does not: measured
// with BenchmarkSearch_WhileReindexing, merging on top of bleve left search
// latency where it was, at the cost of re-indexing and writing the merged
// servers again.

// group is the servers whose tools one batch indexed, and so one segment
// holds. It lives until each of its servers has been indexed again by a later
// batch or removed; bleve then drops the segment.
type group struct {
	servers map[string]int // tools per server
	live    int            // tools of servers
	indexed int            // documents in the segment, deleted or not
}

// mergePolicy picks groups to merge as a tiered merge policy does: groups
// fall into tiers by size, each fanIn times larger than the one below, and
// the groups of a tier are merged once it holds fanIn of them. A tool is then
// re-indexed about log_fanIn(tools/unit) times while it lives, so a change
// to one server costs, amortized, work proportional to that server; and
// there are fewer than fanIn segments per tier.
type mergePolicy struct {
	fanIn int // groups in a tier that make a merge
	unit  int // the lowest tier holds groups of fewer than unit*fanIn tools
}

var defaultMergePolicy = mergePolicy{fanIn: 8, unit: 64}

func (p mergePolicy) tier(tools int) int {
	t := 0
	for n := tools; n >= p.unit*p.fanIn; n /= p.fanIn {
		t++
	}
	return t
}

// plan returns the groups to merge next, or nil.
func (p mergePolicy) plan(groups map[*group]struct{}) []*group {
	var tiers [][]*group
	for g := range groups {
		// A segment that is mostly deleted documents, which searches still
		// step over, is re-indexed on its own. Re-indexing what is left
		// costs less than what the servers that left it cost.
		if g.live*2 < g.indexed {
			return []*group{g}
		}
		t := p.tier(g.live)
		for len(tiers) <= t {
			tiers = append(tiers, nil)
		}
		tiers[t] = append(tiers[t], g)
	}
	for _, gs := range tiers {
		if len(gs) >= p.fanIn {
			return gs
		}
	}
	return nil
}

// groupLocked records that the servers, with their number of tools, were
// just indexed in one batch of indexed documents.
func (x *Index) groupLocked(servers map[string]int, indexed int) {
	if len(servers) == 0 || !x.selfMerge {
		return
	}
	g := &group{servers: servers, indexed: indexed}
	for s, n := range servers {
		x.ungroupLocked(s)
		x.groupOf[s] = g
		g.live += n
	}
	x.groups[g] = struct{}{}
	x.wakeMergerLocked()
}

// ungroupLocked records that server's tools left their segment.
func (x *Index) ungroupLocked(server string) {
	g := x.groupOf[server]
	if g == nil {
		return
	}
	g.live -= g.servers[server]
	delete(g.servers, server)
	delete(x.groupOf, server)
	if len(g.servers) == 0 {
		delete(x.groups, g) // and bleve dropped its segment
	}
}

func (x *Index) wakeMergerLocked() {
	if !x.selfMerge || x.policy.plan(x.groups) == nil {
		return
	}
	select {
	case x.wake <- struct{}{}:
	default: // already awake
	}
}

// merger merges segments when woken, until Close.
func (x *Index) merger() {
	defer close(x.done)
	for {
		select {
		case <-x.stop:
			return
		case <-x.wake:
		}
		for {
			did, err := x.merge(false)
			if err != nil {
				// Searches are slower, not wrong. The next write wakes
				// the merger again.
				x.log.Warn("tool index: merge segments", "err", err)
				break
			}
			if !did {
				break
			}
			if x.merged != nil {
				x.merged()
			}
			select {
			case <-x.stop:
				return
			default:
			}
		}
	}
}

// merge performs the merge the policy plans, or with force one of all
// segments into one. It reports whether it merged anything.
//
// It re-indexes without holding mu, so that writers are not held up, and
// then, under mu, re-indexes again any server a writer changed or removed
// meanwhile: which of the two batches bleve applied last decides whether the
// merged segment holds a stale copy of that server.
func (x *Index) merge(force bool) (bool, error) {
	x.merging.Lock()
	defer x.merging.Unlock()

	x.mu.Lock()
	var plan []*group
	switch {
	case x.closed.Load():
	case force:
		if len(x.groups) > 1 || x.policy.plan(x.groups) != nil {
			plan = slices.Collect(maps.Keys(x.groups))
		}
	default:
		plan = x.policy.plan(x.groups)
	}
	if len(plan) == 0 {
		x.mu.Unlock()
		return false, nil
	}
	var servers []string
	for _, g := range plan {
		for s := range g.servers {
			servers = append(servers, s)
		}
	}
	// In order, so that equal scores order the same way after any merge.
	slices.Sort(servers)
	// Dormant servers too: their documents are in the segments. (Only
	// servers loaded from disk have no tools to re-index, and they are in
	// no group.)
	took := make([]*serverTools, len(servers))
	for i, s := range servers {
		took[i] = x.known[s]
	}
	x.mu.Unlock()

	b := x.bleve.NewBatch()
	for i, s := range servers {
		if err := addServer(b, s, took[i]); err != nil {
			return false, err
		}
	}
	indexed := b.Size()
	if err := x.bleve.Batch(b); err != nil {
		return false, fmt.Errorf("merge segments: %w", err)
	}
	if x.beforeFixup != nil {
		x.beforeFixup()
	}

	x.mu.Lock()
	defer x.mu.Unlock()
	merged := map[string]int{}
	fixed := map[string]int{}
	fix := x.bleve.NewBatch()
	for i, s := range servers {
		now := x.known[s]
		if now == took[i] {
			merged[s] = len(now.names)
			continue
		}
		for _, name := range took[i].names {
			fix.Delete(docID(s, name))
		}
		if err := addServer(fix, s, now); err != nil {
			return true, err
		}
		if now != nil {
			fixed[s] = len(now.names)
		}
	}
	x.groupLocked(merged, indexed)
	if fix.Size() == 0 {
		return true, nil
	}
	if err := x.bleve.Batch(fix); err != nil {
		return true, fmt.Errorf("merge segments: re-index servers changed meanwhile: %w", err)
	}
	x.groupLocked(fixed, sumValues(fixed))
	return true, nil
}

// addServer adds the tools of st, if any, to a batch.
func addServer(b *bleve.Batch, server string, st *serverTools) error {
	if st == nil {
		return nil
	}
	if st.tools == nil {
		return fmt.Errorf("index server %s: tools not loaded", server)
	}
	for _, name := range st.names {
		t := st.tools[name]
		if err := b.Index(docID(server, name), newDocument(server, &t.Tool)); err != nil {
			return fmt.Errorf("index server %s: tool %s: %w", server, name, err)
		}
	}
	return nil
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
