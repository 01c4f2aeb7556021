package index

// The word-vector experiment (reverted in the commit after this one). On the
// tuning part, sweeps driven by environment variables:
//
//	SW_W="0 0.1 0.2" SW_F="0 0.3" go test -count=1 -run TestSweep -v ./internal/index/
//
// (SW_W dense weights, SW_F cosine floors, SW_A the SIF a, SW_T/SW_N/SW_PN/SW_P
// the fields of a tool's vector, SW_EB/SW_EMIN/SW_EK/SW_EC expansion boost,
// minimum cosine, neighbours per term and coverage, SW_OOV/SW_MR expansion of
// words no tool has only / of words past a frequency rank, SW_K/SW_D
// reciprocal rank fusion, SW_AD dense weight by the lexical best's missing
// coverage, SW_SA/SW_SB synonyms weighted by their cosine to the query).
// TestHeldOutOnce scores the chosen configurations on both parts.

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func envF(k string, d float64) float64 {
	if v := os.Getenv(k); v != "" {
		f, _ := strconv.ParseFloat(v, 64)
		return f
	}
	return d
}

func TestSweep(t *testing.T) {
	servers, _ := loadEvalServers(t)
	ws := strings.Fields(os.Getenv("SW_W"))
	fs := strings.Fields(os.Getenv("SW_F"))
	sifA = envF("SW_A", sifA)
	denseFields[sfParamNames] = float32(envF("SW_PN", float64(denseFields[sfParamNames])))
	denseFields[sfParams] = float32(envF("SW_P", float64(denseFields[sfParams])))
	denseFields[sfText] = float32(envF("SW_T", float64(denseFields[sfText])))
	denseFields[sfName] = float32(envF("SW_N", float64(denseFields[sfName])))
	expandOOVOnly = os.Getenv("SW_OOV") != ""
	rrfK = envF("SW_K", 0)
	synCtxA = envF("SW_SA", 0)
	synCtxB = envF("SW_SB", 0)
	adaptive = envF("SW_AD", 0)
	rrfDepth = envF("SW_D", 1000000)
	expandMinRank = int(envF("SW_MR", 0))
	x := newRankedIndex(t, defaultRanking, servers)
	settle(t, x)
	queries, _ := loadEvalQueries(t, x, servers)
	for _, w := range ws {
		for _, f := range fs {
			r := defaultRanking
			r.denseWeight, _ = strconv.ParseFloat(w, 64)
			r.denseFloor, _ = strconv.ParseFloat(f, 64)
			r.dense = r.denseWeight > 0
			r.expandMin = envF("SW_EMIN", 0.6)
			r.expandBoost = envF("SW_EB", 0.3)
			r.expandPerTerm = int(envF("SW_EK", 3))
			r.expand = r.expandBoost > 0
			r.expandCover = envF("SW_EC", 0.3)
			x.rank = r
			sc := evalRanking(t, x, queries)
			t.Logf("w=%s f=%s tuning r1 %.3f r5 %.3f mrr %.3f | hard r5 %.3f mrr %.3f", w, f, sc[0].recall1(), sc[0].recall5(), sc[0].mrr(), sc[2].recall5(), sc[2].mrr())
		}
	}
}

func TestShowExp(t *testing.T) {
	servers, _ := loadEvalServers(t)
	r := defaultRanking
	r.expand, r.expandMin, r.expandBoost, r.expandPerTerm = true, 0.45, 1, 6
	x := newRankedIndex(t, r, servers)
	settle(t, x)
	for _, q := range []string{"add 17 and 25 together", "count customers by country", "who is on the team", "remember that Alice works at Acme", "what pods are running", "take a picture of the web page", "link two people as colleagues", "close issue 42", "how do I drive from Boston to New York", "remove the broken deployment"} {
		plan := x.expandPlan(x.snap.Load(), x.plan(q))
		var b strings.Builder
		for _, c := range plan {
			if c.near {
				b.WriteString(c.of + "→" + c.term + strconv.FormatFloat(c.boost, 'f', 2, 64) + " ")
			}
		}
		t.Logf("%s: %s", q, b.String())
	}
}

func TestCompare(t *testing.T) {
	servers, _ := loadEvalServers(t)
	sifA = 1e-3
	x := newRankedIndex(t, defaultRanking, servers)
	settle(t, x)
	queries, _ := loadEvalQueries(t, x, servers)
	rank := func(q evalQuery) int {
		hits := searchT(t, x, q.text, DefaultLimit)
		for i, h := range hits {
			for _, w := range q.want {
				if h.ID() == w {
					return i + 1
				}
			}
		}
		return 99
	}
	lex, dense := defaultRanking, defaultRanking
	lex.dense = false
	dense.denseWeight, dense.denseFloor = 1000, 0
	bothBetter := 0
	for _, q := range queries {
		if q.heldOut {
			continue
		}
		x.rank = lex
		rl := rank(q)
		x.rank = dense
		rd := rank(q)
		if rd < rl {
			bothBetter++
			t.Logf("dense better: %d vs lex %d: %s", rd, rl, q.text)
		}
	}
}

func TestHeldOutOnce(t *testing.T) {
	servers, _ := loadEvalServers(t)
	sifA = 1e-3
	denseFields = [numScoreFields]float32{sfName: 1}
	x := newRankedIndex(t, defaultRanking, servers)
	settle(t, x)
	queries, _ := loadEvalQueries(t, x, servers)
	cur := defaultRanking
	cur.dense, cur.expand = false, false
	dense := cur
	dense.dense, dense.denseWeight, dense.denseFloor = true, 0.1, 0
	exp := cur
	exp.expand, exp.expandMin, exp.expandBoost, exp.expandPerTerm, exp.expandCover = true, 0.6, 0.2, 3, 0
	both := exp
	both.dense, both.denseWeight, both.denseFloor = true, 0.1, 0
	for _, rk := range []struct {
		n string
		r ranking
	}{{"current", cur}, {"dense", dense}, {"expand", exp}, {"both", both}} {
		x.rank = rk.r
		sc := evalRanking(t, x, queries)
		t.Logf("%s: tuning r1 %.3f r5 %.3f mrr %.3f | held-out r1 %.3f r5 %.3f mrr %.3f", rk.n, sc[0].recall1(), sc[0].recall5(), sc[0].mrr(), sc[4].recall1(), sc[4].recall5(), sc[4].mrr())
	}
}
