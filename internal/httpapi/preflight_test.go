package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// GET /api/v1/tools/preflight reads the view only; ids come comma-separated
// or repeated, and bad ones are refused naming the parameter.
func TestAPI_Preflight(t *testing.T) {
	ready := srv("a", mcpproxy.StateReady, "echo")
	ready.Tools[0].Approval = mcpproxy.ApprovalApproved
	_, ts := newTestAPI(t, ready, srv("b", mcpproxy.StateConnecting))
	base := ts.URL + "/api/v1/tools/preflight"

	code, body := do(t, "GET", base+"?ids=a:echo,b:x&ids=a:echo", testKey)
	var env struct {
		Data apiv1.Preflight `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &env); code != 200 || err != nil {
		t.Fatalf("%d %s (%v)", code, body, err)
	}
	p := env.Data
	if p.Ready || p.Class != apiv1.PreflightTransient || len(p.Tools) != 3 || !p.Tools[0].Ready || p.Tools[1].Status != "starting" || !p.Tools[2].Ready {
		t.Errorf("preflight: %s", body)
	}

	for _, tc := range []struct{ query, want string }{
		{"", `ids: required`},
		{"?ids=", `ids: required`},
		{"?ids=" + strings.Repeat("a:b,", 101), `ids: at most 100 ids, got 101`},
	} {
		code, body := do(t, "GET", base+tc.query, testKey)
		if code != 400 || !strings.Contains(body, tc.want) || !strings.Contains(body, `"invalid"`) {
			t.Errorf("%q: %d %s, want 400 with %q", tc.query, code, body, tc.want)
		}
	}
	if code, _ := do(t, "GET", base+"?ids=a:echo", ""); code != 401 {
		t.Errorf("without the API key: %d, want 401", code)
	}
}
