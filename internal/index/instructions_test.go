package index

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// twinServers are two servers whose tools say the same thing; only the
// first gives instructions, which mention invoices.
func twinServers(instructions string) map[string]Server {
	tools := []mcpproxy.Tool{tool("send_message", "Send a message to a channel."), tool("list_channels", "List the channels.")}
	return map[string]Server{
		"alpha": {Tools: tools, Instructions: instructions},
		"beta":  {Tools: tools},
	}
}

const invoiceInstructions = "Use this server to send invoices and payment reminders to customers."

func TestIndex_Instructions(t *testing.T) {
	x := newTestIndex(t, nil)
	must(t, x.Update(twinServers(invoiceInstructions)))

	t.Run("AddToMatches", func(t *testing.T) {
		hits := searchT(t, x, "send an invoice", 5)
		if len(hits) < 2 || hits[0].ID() != "alpha:send_message" || hits[1].ID() != "beta:send_message" {
			t.Fatalf("hits = %v, want alpha:send_message then beta:send_message", describe(hits))
		}
		if !(hits[0].Score > hits[1].Score) {
			t.Errorf("scores %v and %v, want the tool of the server whose instructions have the word higher", hits[0].Score, hits[1].Score)
		}
	})
	t.Run("NeverMakeAMatch", func(t *testing.T) {
		if hits := searchT(t, x, "invoice reminders", 5); len(hits) != 0 {
			t.Errorf("hits = %v, want none: the words are only in instructions", describe(hits))
		}
	})
	t.Run("Explained", func(t *testing.T) {
		hits, err := x.SearchExplained(t.Context(), "send an invoice", 5)
		if err != nil {
			t.Fatal(err)
		}
		var alpha, beta *Explanation
		for _, h := range hits {
			switch h.ID() {
			case "alpha:send_message":
				alpha = h.Why
			case "beta:send_message":
				beta = h.Why
			}
		}
		if alpha == nil || beta == nil {
			t.Fatalf("hits = %v, want both send_message tools", describe(hits))
		}
		var sum float64
		found := false
		for _, tc := range alpha.Terms {
			sum += tc.Total
			if tc.Term == "invoic" {
				found = true
				if v := tc.Fields[fieldInstructions]; v <= 0 || len(tc.Fields) != 1 {
					t.Errorf("invoic: fields %v, want a score in %s alone", tc.Fields, fieldInstructions)
				}
			}
		}
		if !found {
			t.Errorf("alpha:send_message: no term invoic: %s", alpha)
		}
		if got := sum * alpha.Coverage; math.Abs(got-alpha.Score) > 1e-9 {
			t.Errorf("terms add up to %v, score %v: %s", got, alpha.Score, alpha)
		}
		if alpha.Coverage != beta.Coverage {
			t.Errorf("coverage %v with the word in instructions, %v without: want the same", alpha.Coverage, beta.Coverage)
		}
		if !strings.Contains(alpha.String(), fieldInstructions) {
			t.Errorf("String() = %s, want the field named", alpha)
		}
	})
	t.Run("SetServerDropsThem", func(t *testing.T) {
		y := newTestIndex(t, nil)
		must(t, y.Update(twinServers(invoiceInstructions)))
		must(t, y.SetServer("alpha", twinServers("")["alpha"].Tools))
		hits := searchT(t, y, "send an invoice", 5)
		if len(hits) < 2 || hits[0].Score != hits[1].Score {
			t.Errorf("hits = %v, want the twins tied", describe(hits))
		}
	})
	t.Run("Truncated", func(t *testing.T) {
		y := newTestIndex(t, nil)
		long := strings.Repeat("é", MaxInstructions/2) + " channel zebra" // the first byte of the space is past the bound
		must(t, y.Update(map[string]Server{"alpha": {Tools: twinServers("")["alpha"].Tools, Instructions: long}}))
		hits, err := y.SearchExplained(t.Context(), "send zebra", 5)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			for _, tc := range h.Why.Terms {
				if tc.Term == "zebra" {
					t.Errorf("%s: a word past MaxInstructions is indexed: %s", h.ID(), h.Why)
				}
			}
		}
	})
}

// TestIndex_InstructionsReindex checks that a server whose instructions
// change is indexed again, and one set with the same tools and instructions
// after Open is revived without being indexed.
func TestIndex_InstructionsReindex(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	x := openTestIndex(t, dir)
	must(t, x.Update(twinServers(invoiceInstructions)))
	before := x.indexed.Load()
	must(t, x.Update(twinServers(invoiceInstructions)))
	if n := x.indexed.Load() - before; n != 0 {
		t.Errorf("same instructions: %d documents indexed, want 0", n)
	}
	must(t, x.Update(twinServers("Send receipts.")))
	if n, want := x.indexed.Load()-before, uint64(len(twinServers("")["alpha"].Tools)); n != want {
		t.Errorf("changed instructions: %d documents indexed, want %d", n, want)
	}
	must(t, x.Close())

	x = openTestIndex(t, dir)
	must(t, x.Update(twinServers("Send receipts.")))
	if n := x.indexed.Load(); n != 0 {
		t.Errorf("after Open, same tools and instructions: %d documents indexed, want 0", n)
	}
	if hits := searchT(t, x, "send receipts", 5); len(hits) < 2 || hits[0].ID() != "alpha:send_message" || !(hits[0].Score > hits[1].Score) {
		t.Errorf("hits = %v, want alpha:send_message first, above its twin", describe(hits))
	}
}
