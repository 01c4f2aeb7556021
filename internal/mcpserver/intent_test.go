package mcpserver

import (
	"encoding/json"
		"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// notesProxy is a proxy in front of the annotated test upstream "notes",
// with the extra top-level config keys.
func notesProxy(t *testing.T, top map[string]any, o proxyOptions) *proxy {
	t.Helper()
	o.Servers = []map[string]any{streamable(t, "notes", testupstream.Options{Annotated: true}, nil)}
	o.Top = top
	p := newProxy(t, o)
	p.waitCatalog(t, "notes")
	return p
}

// writes asks the upstream how many writing calls reached it.
func writes(t *testing.T, cs *mcp.ClientSession) int {
	t.Helper()
	res := call(t, cs, "call_tool_read", map[string]any{"name": "notes:notes_list", "intent": map[string]any{"reason": "count writes"}})
	if res.IsError {
		t.Fatalf("notes_list: %s", textOf(res))
	}
	var out struct {
		Writes int `json:"writes"`
	}
	if err := json.Unmarshal([]byte(textOf(res)), &out); err != nil {
		t.Fatalf("notes_list: %v: %s", err, textOf(res))
	}
	return out.Writes
}

func TestEffectOf(t *testing.T) {
	for _, tc := range []struct {
		ann  string
		want effect
	}{
		{``, effectDestructive},
		{`{}`, effectDestructive},
		{`{"title":"x"}`, effectDestructive},
		{`{"readOnlyHint":true}`, effectRead},
		{`{"readOnlyHint":true,"destructiveHint":true}`, effectRead}, // destructiveHint counts only when not read-only
		{`{"readOnlyHint":false}`, effectDestructive},
		{`{"destructiveHint":false}`, effectWrite},
		{`{"readOnlyHint":false,"destructiveHint":false}`, effectWrite},
		{`{"destructiveHint":true}`, effectDestructive},
		{`{"readOnlyHint":"yes"}`, effectDestructive}, // unreadable: the defaults
		{`not json`, effectDestructive},
	} {
		if got := effectOf(json.RawMessage(tc.ann)); got != tc.want {
			t.Errorf("effectOf(%s) = %d, want %d", tc.ann, got, tc.want)
		}
	}
}

// Each variant reaches only the tools its intent covers; a refusal names
// the tool, its annotations and the variant to use, and never reaches the
// upstream — whether the call is answered in front of the SDK or by it.
func TestIntent_Variants(t *testing.T) {
	p := notesProxy(t, nil, proxyOptions{Activity: true})
	cs := p.connect(t, "/mcp", clientOptions{protocol: fastProtocol})
	waitFast(t, p.srv.fastSmart, cs)
	f := p.srv.fastSmart
	type want struct {
		ok        bool
		fragments []string
	}
	reached := want{ok: true}
	refused := func(use, ann string) want {
		return want{fragments: []string{"it was not called", "notes:", ann, "use " + use}}
	}
	cases := []struct {
		variant, tool string
		want          want
	}{
		{callRead, "notes_list", reached},
		{callRead, "notes_append", refused(callWrite, `"destructiveHint":false`)},
		{callRead, "notes_delete", refused(callDestructive, `"destructiveHint":true`)},
		{callRead, "notes_touch", refused(callDestructive, "annotations: none (so, by the MCP defaults, it may be destructive)")},
		{callWrite, "notes_list", reached},
		{callWrite, "notes_append", reached},
		{callWrite, "notes_delete", refused(callDestructive, `"destructiveHint":true`)},
		{callWrite, "notes_touch", refused(callDestructive, "annotations: none")},
		{callDestructive, "notes_list", reached},
		{callDestructive, "notes_append", reached},
		{callDestructive, "notes_delete", reached},
		{callDestructive, "notes_touch", reached},
	}
	for _, path := range []string{"fast", "sdk"} {
		for _, tc := range cases {
			f.off.Store(path == "sdk")
			before, served := writes(t, cs), f.served.Load()
			args := map[string]any{}
			if tc.tool == "notes_append" {
				args["text"] = "n"
			}
			res := call(t, cs, tc.variant, map[string]any{
				"name": "notes:" + tc.tool, "args": args, "intent": map[string]any{"reason": "test " + tc.tool},
			})
			if got := f.served.Load() - served; path == "fast" && got != 1 || path == "sdk" && got != 0 {
				t.Fatalf("%s %s %s: %d calls answered in front of the SDK", path, tc.variant, tc.tool, got)
			}
			after := writes(t, cs)
			if tc.want.ok {
				if res.IsError {
					t.Errorf("%s %s %s: refused: %s", path, tc.variant, tc.tool, textOf(res))
				}
				if tc.tool != "notes_list" && after != before+1 {
					t.Errorf("%s %s %s: upstream saw %d writes, want 1", path, tc.variant, tc.tool, after-before)
				}
				continue
			}
			msg := wantError(t, res, append([]string{tc.variant + " refused", "notes:" + tc.tool}, tc.want.fragments...)...)
			if after != before {
				t.Errorf("%s %s %s: refused, but the upstream saw %d writes: %s", path, tc.variant, tc.tool, after-before, msg)
			}
		}
	}
	f.off.Store(false)

	// The activity log has the declared intent of each call, refused
	// ones too (one per path), and none for a plain call.
	if res := call(t, cs, "call_tool", map[string]any{"name": "notes:notes_list"}); res.IsError {
		t.Fatalf("plain call_tool: %s", textOf(res))
	}
	p.act.Flush()
	var refusedRead, allowed, plain int
	for _, r := range allRecords(t, p.act, activity.Filter{}, activity.MaxLimit) {
		switch {
		case r.Intent == nil:
			plain++
		case r.Tool == "notes_delete" && r.Intent.Variant == callRead:
			refusedRead++
			if r.Status != activity.StatusBlocked || r.Intent.Reason != "test notes_delete" || !strings.Contains(r.Error, "it was not called") {
				t.Errorf("refused call's record: %+v intent %+v", r, *r.Intent)
			}
		case r.Tool == "notes_delete" && r.Intent.Variant == callDestructive:
			allowed++
			if r.Status != activity.StatusOK || r.Intent.Reason != "test notes_delete" {
				t.Errorf("allowed call's record: %+v intent %+v", r, *r.Intent)
			}
		}
	}
	if refusedRead != 2 || allowed != 2 || plain != 1 {
		t.Errorf("records: %d refused read of notes_delete, %d destructive, %d plain; want 2, 2, 1", refusedRead, allowed, plain)
	}
}
