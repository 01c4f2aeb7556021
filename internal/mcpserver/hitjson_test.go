package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/index"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// oldRetrieveAnswer is retrieve_tools' answer as it was encoded before
// appendAnswer: a map of FoundTool (or CompactTool) values through
// jsonResult.
func oldRetrieveAnswer(hits []index.Hit, compact bool) string {
	found := foundTools(hits)
	res := map[string]any{"tools": found, "total": len(found)}
	msg := `Call one with its call_with variant: {"name": "<id>", "args": {...}, "intent": {"reason": "..."}}`
	if compact {
		c := make([]CompactTool, len(found))
		for i, f := range found {
			c[i] = CompactTool{ID: f.ID, Description: firstSentence(f.Description), Score: f.Score, Annotations: f.Annotations, CallWith: f.CallWith}
		}
		res["tools"] = c
		msg = `Call describe_tool with the ids you mean to use (up to 5) for their input schemas, then call each with its call_with variant: {"name": "<id>", "args": {...}, "intent": {"reason": "..."}}`
	}
	if len(found) == 0 {
		res["message"] = "No tools matched. Try other words, or upstream_servers list to see which servers are connected."
	} else {
		res["message"] = msg
	}
	return textOf(jsonResult(res))
}

// oddTools are tools whose text and raw JSON try every escape the encoder
// makes: HTML characters, quotes and backslashes, control characters,
// U+2028 and U+2029, bytes that are not UTF-8, astral characters, and
// schemas as json.Marshal writes them and as a person would.
func oddTools() []mcpproxy.Tool {
	descs := []string{
		"plain widget tool",
		"widget with <html> & \"quotes\" and back\\slash",
		"widget über Größe — 東京 🚀 emoji",
		"widget line\nbreak\ttab\rreturn \x00 nul \x1f unit \x7f del",
		"widget sep \u2028 and \u2029 paragraph",
		"widget bad utf8 \xff\xfe and cut \xe6\x9d",
		"widget. First sentence! Then more? Yes",
		"",
		strings.Repeat("widget long ", 40),
	}
	schemas := []json.RawMessage{
		nil,
		json.RawMessage(`{"type":"object"}`),
		json.RawMessage(`{"type":"object","properties":{"q":{"type":"string","description":"a \u003cb\u003e \u0026 \"c\" \\ é 😀"}},"required":["q"]}`),
		json.RawMessage(`{"type":"object","properties":{"q":{"type":"string","description":"raw <b> & é 😀 \u2028"}}}`),
		json.RawMessage("{\n  \"type\": \"object\",\n  \"properties\": {\"n\": {\"type\": \"number\"}}\n}"),
		json.RawMessage(`{"type":"object","properties":{"n":{"type":"number","minimum":-1.5e-7,"maximum":1E+30}}}`),
		json.RawMessage(`{"type":"object","properties":{"score":{"type":"number"},"call_with":{"const":"x"}}}`),
		json.RawMessage(`[1,2,{"a":null}]`),
		json.RawMessage(`{"type":`), // invalid
	}
	anns := []json.RawMessage{
		nil,
		json.RawMessage(`{"readOnlyHint":true}`),
		json.RawMessage(`{"destructiveHint":true,"title":"Ünïcode <t>"}`),
		json.RawMessage(`{"readOnlyHint":false,"destructiveHint":false}`),
		json.RawMessage(`{ "readOnlyHint" : true }`),
		json.RawMessage(`null`),
	}
	var tools []mcpproxy.Tool
	i := 0
	for _, d := range descs {
		for _, s := range schemas {
			for _, a := range anns {
				tools = append(tools, mcpproxy.Tool{Name: fmt.Sprintf("tool-%d.x_y", i), Description: "widget " + d, InputSchema: s, Annotations: a})
				i++
			}
		}
	}
	return tools
}

// The answer written from the hits' raw JSON is, byte for byte, the one
// the map of FoundTool values encoded to, in full and compact mode, for
// every odd tool and for scores of every size.
func TestRetrieveAnswer_SameBytesAsBefore(t *testing.T) {
	tools := oddTools()
	x, err := index.New()
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	servers := []string{"alpha", "b-2", "c_3.x"}
	for _, s := range servers {
		if err := x.SetServer(s, tools); err != nil {
			t.Fatalf("server %s: %v", s, err)
		}
	}
	// The hits as the index gives them, with its word on each tool's raw
	// JSON, and then scores of every size.
	all, err := x.Search(context.Background(), "widget", 10*len(tools))
	if err != nil || len(all) != len(servers)*len(tools) {
		t.Fatalf("%d hits, %v; want %d", len(all), err, len(servers)*len(tools))
	}
	r := rand.New(rand.NewPCG(1, 2))
	scores := []float64{0, 1, -1, 0.5, 1e-7, 1e-6, 9.99e-7, 1e21, 1e20, 123456789.125, -3.25e-9, 1e-300, math.MaxFloat64, math.SmallestNonzeroFloat64}
	fast := 0
	for i := range all {
		h := &all[i]
		h.Score = scores[i%len(scores)]
		if i%3 == 0 {
			h.Score = r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
		}
		if h.CompactJSON {
			fast++
		}
	}
	if fast == 0 || fast == len(all) {
		t.Fatalf("%d of %d hits have compact JSON: the test covers only one way", fast, len(all))
	}
	for _, compact := range []bool{false, true} {
		for n := 0; n <= len(all); n += 1 + n/3 {
			for start := 0; start+n <= len(all); start += max(n, 7) {
				part := all[start : start+n]
				got, err := retrieveAnswer(part, compact)
				want := oldRetrieveAnswer(part, compact)
				if err != nil {
					got = textOf(errorResult("encoding result: %v", err))
				}
				if got != want {
					t.Fatalf("compact %v, hits %d..%d:\n got %s\nwant %s", compact, start, start+n, got, want)
				}
			}
		}
	}
	// The fast way is taken whenever every hit's JSON is compact.
	var ok []index.Hit
	for _, h := range all {
		if h.CompactJSON {
			ok = append(ok, h)
		}
	}
	if _, taken := appendAnswer(nil, ok, false, "m"); !taken {
		t.Errorf("appendAnswer refused hits whose JSON is compact")
	}
}

// appendJSONFloat writes what encoding/json writes, for floats of every
// magnitude.
func TestAppendJSONFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	vals := []float64{0, math.Copysign(0, -1), 1, 1e-6, 1e-7, 1e21, 1e20, 0.1, 1.0 / 3, 5e-324, math.MaxFloat64}
	for range 20000 {
		v := math.Float64frombits(r.Uint64())
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		vals = append(vals, v, r.Float64()*math.Pow(10, float64(r.IntN(60)-30)))
	}
	for _, v := range vals {
		want, _ := json.Marshal(v)
		if got := appendJSONFloat(nil, v); !bytes.Equal(got, want) {
			t.Fatalf("%v: got %s, want %s", v, got, want)
		}
	}
}

// appendJSONString writes what a json.Encoder without HTML escapes writes.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "<&>\"\\", "\x00\x01\x1f\x7f", "\u2028\u2029", "\xff\xe6\x9d", "東京🚀", "\t\n\r\b\f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		want := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

// BenchmarkRetrieveAnswer encodes the text of retrieve_tools' answer for
// 15 hits among the tools of the search evaluation's 39 real servers (their
// schemas compacted, as the daemon holds them), the way it is written now
// and the way it was (a map of FoundTool values through encoding/json). The
// hits are every 15th of the 480 tools, in turns that start one further each
// time, so that the sets cover every tool.
func BenchmarkRetrieveAnswer(b *testing.B) {
	files, err := filepath.Glob("../index/testdata/servers/*.json")
	if err != nil || len(files) == 0 {
		b.Fatalf("tool lists: %v (%d files)", err, len(files))
	}
	var all []index.Hit
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		var sf struct {
			Server string `json:"server"`
			Tools  []struct {
				Name        string          `json:"name"`
				Description string          `json:"description"`
				InputSchema json.RawMessage `json:"inputSchema"`
				Annotations json.RawMessage `json:"annotations"`
			} `json:"tools"`
		}
		if err := json.Unmarshal(data, &sf); err != nil {
			b.Fatalf("%s: %v", f, err)
		}
		for i, t := range sf.Tools {
			all = append(all, index.Hit{Server: sf.Server, Score: 1 / float64(i+1), CompactJSON: true, Tool: mcpproxy.Tool{
				Name: t.Name, Description: t.Description,
				InputSchema: compactRaw(b, t.InputSchema), Annotations: compactRaw(b, t.Annotations)}})
		}
	}
	const per = 15
	var sets [][]index.Hit
	size := 0
	for start := range len(all) / per {
		var hits []index.Hit
		for i := start; i < len(all); i += len(all) / per {
			hits = append(hits, all[i])
		}
		hits = hits[:per]
		sets = append(sets, hits)
		text, err := retrieveAnswer(hits, false)
		if err != nil || text != oldRetrieveAnswer(hits, false) {
			b.Fatalf("set %d: the answer differs from the old encoding (%v)", start, err)
		}
		size += len(text)
	}
	b.Logf("%d tools; answers of %d bytes on average", len(all), size/len(sets))
	for _, enc := range []struct {
		name string
		fn   func([]index.Hit) string
	}{
		{"now", func(h []index.Hit) string { s, _ := retrieveAnswer(h, false); return s }},
		{"before", func(h []index.Hit) string { return oldRetrieveAnswer(h, false) }},
	} {
		b.Run(enc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				enc.fn(sets[i%len(sets)])
				i++
			}
		})
	}
}

func compactRaw(tb testing.TB, raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
