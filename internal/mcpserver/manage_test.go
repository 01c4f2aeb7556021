package mcpserver

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
)

func listServers(tb testing.TB, p *proxy, res string) []mcpproxy.ServerStatus {
	tb.Helper()
	var out struct {
		Servers []mcpproxy.ServerStatus `json:"servers"`
		Total   int                     `json:"total"`
	}
	if err := json.Unmarshal([]byte(res), &out); err != nil {
		tb.Fatalf("list result: %v\n%s", err, res)
	}
	if out.Total != len(out.Servers) {
		tb.Errorf("total %d, %d servers", out.Total, len(out.Servers))
	}
	return out.Servers
}

func TestUpstreamServers(t *testing.T) {
	p := newProxy(t, proxyOptions{Servers: []map[string]any{
		streamable(t, "alpha", testupstream.Options{}, nil),
		streamable(t, "quar", testupstream.Options{}, map[string]any{"quarantined": true}),
		{"name": "off", "command": "/bin/false", "enabled": false},
	}})
	p.waitCatalog(t, "alpha")
	p.waitQuarantined(t, "quar", true)
	cs := p.connect(t, "/mcp", clientOptions{})
	us := func(t *testing.T, args map[string]any) string {
		t.Helper()
		res := call(t, cs, "upstream_servers", args)
		if res.IsError {
			t.Fatalf("upstream_servers %v: %s", args, textOf(res))
		}
		return textOf(res)
	}

	t.Run("List", func(t *testing.T) {
		servers := listServers(t, p, us(t, map[string]any{"operation": "list"}))
		var names []string
		for _, s := range servers {
			names = append(names, s.Name)
			want := map[string]mcpproxy.ServerState{"alpha": mcpproxy.StateReady, "quar": mcpproxy.StateQuarantined, "off": mcpproxy.StateDisabled}[s.Name]
			if s.State != want || s.Quarantined != (s.Name == "quar") {
				t.Errorf("%s: state %s quarantined %v, want %s, quarantined only for quar", s.Name, s.State, s.Quarantined, want)
			}
			if s.Tools != nil {
				t.Errorf("%s: list includes the tool list", s.Name)
			}
		}
		if !slices.Equal(names, []string{"alpha", "off", "quar"}) {
			t.Errorf("servers = %v", names)
		}
	})

	t.Run("Add", func(t *testing.T) {
		text := us(t, map[string]any{"operation": "add", "name": "added", "command": "/bin/cat", "args": []string{"-u"}})
		if !strings.Contains(text, "quarantined") {
			t.Errorf("add result does not say the server is quarantined: %s", text)
		}
		spec, ok := p.readConfig(t).Server("added")
		if !ok {
			data, _ := os.ReadFile(p.cfgPath)
			t.Fatalf("config file lacks the added server:\n%s", data)
		}
		if !spec.Quarantined || !spec.Enabled || spec.Command != "/bin/cat" || !slices.Equal(spec.Args, []string{"-u"}) {
			t.Errorf("added spec = %+v", spec)
		}
		data, _ := os.ReadFile(p.cfgPath)
		if !strings.Contains(string(data), `"quarantined": true`) {
			t.Errorf("config file does not say quarantined: true:\n%s", data)
		}
		p.waitQuarantined(t, "added", false)
		wantError(t, call(t, cs, "call_tool", map[string]any{"name": "added:anything"}), "quarantined")
	})

	t.Run("AddErrors", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args map[string]any
			want []string
		}{
			{"InvalidName", map[string]any{"operation": "add", "name": "bad name!", "command": "x"}, []string{"name", "bad name!"}},
			{"NoName", map[string]any{"operation": "add", "command": "x"}, []string{"argument name", "required"}},
			{"NoCommandOrURL", map[string]any{"operation": "add", "name": "empty"}, []string{"command", "url"}},
			{"BadURL", map[string]any{"operation": "add", "name": "badurl", "url": "ftp://x"}, []string{"url"}},
			{"BadProtocol", map[string]any{"operation": "add", "name": "badproto", "url": "http://x", "protocol": "carrier-pigeon"}, []string{"protocol"}},
			{"ArgsNotArray", map[string]any{"operation": "add", "name": "x", "command": "x", "args": "a b"}, []string{"args"}},
			{"Exists", map[string]any{"operation": "add", "name": "alpha", "url": "http://127.0.0.1:1/mcp"}, []string{"alpha", "already exists"}},
			{"NoOperation", map[string]any{}, []string{"operation", "required"}},
			{"UnknownOperation", map[string]any{"operation": "explode"}, []string{"operation", "explode"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before, _ := os.ReadFile(p.cfgPath)
				wantError(t, call(t, cs, "upstream_servers", tc.args), tc.want...)
				if after, _ := os.ReadFile(p.cfgPath); string(after) != string(before) {
					t.Errorf("a refused add changed the config file:\n%s", after)
				}
			})
		}
		if _, ok := p.readConfig(t).Server("empty"); ok {
			t.Error("an invalid server was written")
		}
	})

	t.Run("Remove", func(t *testing.T) {
		us(t, map[string]any{"operation": "remove", "name": "added"})
		if _, ok := p.readConfig(t).Server("added"); ok {
			t.Error("removed server still in the config file")
		}
		p.waitGone(t, "added")
		wantError(t, call(t, cs, "upstream_servers", map[string]any{"operation": "remove", "name": "added"}), "added", "not found")
		wantError(t, call(t, cs, "upstream_servers", map[string]any{"operation": "remove"}), "argument name")
	})

	t.Run("DisableEnable", func(t *testing.T) {
		us(t, map[string]any{"operation": "disable", "name": "alpha"})
		if spec, _ := p.readConfig(t).Server("alpha"); spec.Enabled {
			t.Error("config still has alpha enabled")
		}
		p.waitState(t, "alpha", mcpproxy.StateDisabled)
		wantError(t, call(t, cs, "call_tool", map[string]any{"name": "alpha:echo"}), "disabled")

		us(t, map[string]any{"operation": "enable", "name": "alpha"})
		if spec, _ := p.readConfig(t).Server("alpha"); !spec.Enabled {
			t.Error("config still has alpha disabled")
		}
		p.waitCatalog(t, "alpha")
		wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "back"}}), "back")

		wantError(t, call(t, cs, "upstream_servers", map[string]any{"operation": "enable", "name": "ghost"}), "ghost", "not found")
	})

	t.Run("UpdateUnchanged", func(t *testing.T) {
		spec, _ := p.readConfig(t).Server("alpha")
		before, _ := os.ReadFile(p.cfgPath)
		us(t, map[string]any{"operation": "update", "name": "alpha", "url": spec.URL, "protocol": string(spec.Protocol)})
		if after, _ := os.ReadFile(p.cfgPath); string(after) != string(before) {
			t.Errorf("an update that changes nothing rewrote the config:\n%s", after)
		}
		wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "same"}}), "same")
	})

	t.Run("Restart", func(t *testing.T) {
		us(t, map[string]any{"operation": "restart", "name": "alpha"})
		p.waitCatalog(t, "alpha")
		wantError(t, call(t, cs, "upstream_servers", map[string]any{"operation": "restart", "name": "off"}), "off", "disabled")
	})

	// An agent that changes how an approved server is started (its command
	// or URL) must not get the new one run without a person's approval:
	// changed servers are quarantined like new ones.
	t.Run("UpdateQuarantines", func(t *testing.T) {
		text := us(t, map[string]any{"operation": "update", "name": "alpha", "command": "/bin/cat"})
		if !strings.Contains(text, "quarantined") {
			t.Errorf("update result does not say the server is quarantined: %s", text)
		}
		spec, _ := p.readConfig(t).Server("alpha")
		if spec.Command != "/bin/cat" || spec.URL != "" || !spec.Quarantined {
			t.Errorf("updated spec = %+v, want command /bin/cat and quarantined", spec)
		}
		p.waitQuarantined(t, "alpha", false)
		wantError(t, call(t, cs, "call_tool", map[string]any{"name": "alpha:echo"}), "quarantined")
		wantError(t, call(t, cs, "upstream_servers", map[string]any{"operation": "update", "name": "ghost", "command": "x"}), "ghost", "not found")
		wantError(t, call(t, cs, "upstream_servers", map[string]any{"operation": "update", "name": "alpha"}), "command", "url")
	})
}

func TestUpstreamServers_Policy(t *testing.T) {
	readOps := []map[string]any{
		{"operation": "add", "name": "new", "command": "/bin/cat"},
		{"operation": "remove", "name": "alpha"},
		{"operation": "enable", "name": "alpha"},
		{"operation": "disable", "name": "alpha"},
		{"operation": "restart", "name": "alpha"},
		{"operation": "update", "name": "alpha", "command": "/bin/cat"},
	}
	for _, tc := range []struct {
		name     string
		top      map[string]any
		refused  []map[string]any
		want     string
		allowed  []map[string]any
		hideTool bool
	}{
		{"ReadOnly", map[string]any{"read_only": true}, readOps, "read_only", []map[string]any{{"operation": "list"}}, false},
		{"NoAdd", map[string]any{"allow_server_add": false}, readOps[:1], "allow_server_add", []map[string]any{{"operation": "list"}, {"operation": "disable", "name": "alpha"}}, false},
		{"NoRemove", map[string]any{"allow_server_remove": false}, readOps[1:2], "allow_server_remove", []map[string]any{{"operation": "list"}, {"operation": "add", "name": "new", "command": "/bin/cat"}}, false},
		{"DisableManagement", map[string]any{"disable_management": true}, append([]map[string]any{{"operation": "list"}}, readOps...), "disable_management", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProxy(t, proxyOptions{Top: tc.top, Servers: []map[string]any{
				{"name": "alpha", "command": "/bin/false", "enabled": false},
			}})
			cs := p.connect(t, "/mcp", clientOptions{})
			before, _ := os.ReadFile(p.cfgPath)
			for _, args := range tc.refused {
				wantError(t, call(t, cs, "upstream_servers", args), tc.want)
			}
			if after, _ := os.ReadFile(p.cfgPath); string(after) != string(before) {
				t.Errorf("refused operations changed the config file:\n%s", after)
			}
			for _, args := range tc.allowed {
				if res := call(t, cs, "upstream_servers", args); res.IsError {
					t.Errorf("%v refused: %s", args, textOf(res))
				}
			}
			names := toolNames(t, cs)
			if got := slices.Contains(names, "upstream_servers"); got == tc.hideTool {
				t.Errorf("tools/list = %v; upstream_servers listed: %v, want %v", names, got, !tc.hideTool)
			}
			// The other built-ins stay.
			for _, n := range []string{"retrieve_tools", "call_tool"} {
				if !slices.Contains(names, n) {
					t.Errorf("tools/list = %v lacks %s", names, n)
				}
			}
		})
	}
}

// TestUpstreamServers_UpdateKeepsOmittedFields: update changes only what the
// agent passes; timeouts, which its arguments cannot carry, survive.
func TestUpstreamServers_UpdateKeepsOmittedFields(t *testing.T) {
	p := newProxy(t, proxyOptions{Servers: []map[string]any{
		{"name": "s", "command": "/bin/cat", "args": []string{"-u"}, "env": map[string]string{"A": "1"},
			"call_timeout": "7s", "connect_timeout": "3s", "enabled": false},
	}})
	cs := p.connect(t, "/mcp", clientOptions{})
	res := call(t, cs, "upstream_servers", map[string]any{"operation": "update", "name": "s", "args": []string{"-v"}})
	if res.IsError {
		t.Fatal(textOf(res))
	}
	spec, _ := p.readConfig(t).Server("s")
	if spec.Command != "/bin/cat" || !slices.Equal(spec.Args, []string{"-v"}) || spec.Env["A"] != "1" ||
		spec.CallTimeout.D().String() != "7s" || spec.ConnectTimeout.D().String() != "3s" || !spec.Quarantined {
		t.Fatalf("after update: %+v", spec)
	}
	// Switching to a URL drops the stdio fields.
	res = call(t, cs, "upstream_servers", map[string]any{"operation": "update", "name": "s", "url": "http://127.0.0.1:9/mcp"})
	if res.IsError {
		t.Fatal(textOf(res))
	}
	spec, _ = p.readConfig(t).Server("s")
	if spec.Command != "" || spec.Args != nil || spec.Env != nil || spec.URL != "http://127.0.0.1:9/mcp" || spec.CallTimeout.D().String() != "7s" {
		t.Fatalf("after switch to url: %+v", spec)
	}
	wantError(t, call(t, cs, "upstream_servers", map[string]any{"operation": "update", "name": "s"}), "at least one field")
}

// TestUpstreamServers_UpdateDropsSecrets: an agent's update cannot take
// the approved server's secrets to the changed one: env and header entries
// it does not write that carry a placeholder or a literal secret are
// dropped (and named), and a kept url or args carrying one refuse the
// update.
func TestUpstreamServers_UpdateDropsSecrets(t *testing.T) {
	p := newProxy(t, proxyOptions{Servers: []map[string]any{
		{"name": "gh", "url": "http://127.0.0.1:9/mcp", "enabled": false,
			"headers": map[string]string{"Authorization": "Bearer ${env:GH_TOKEN}", "X-Api-Key": "sk_live_abcdefghijklmnop1234", "Accept": "application/json"},
			"oauth":   map[string]any{"client_id": "mcpproxy-gh", "client_secret": "${env:GH_CLIENT_SECRET}"}},
		{"name": "cli", "command": "/bin/cat", "enabled": false,
			"env": map[string]string{"GITHUB_TOKEN": "${env:GH_TOKEN}", "PLAIN": "1"}},
		{"name": "inurl", "url": "http://127.0.0.1:9/mcp?key=${env:GH_TOKEN}", "enabled": false},
		{"name": "inargs", "command": "/bin/cat", "args": []string{"--token", "${env:GH_TOKEN}"}, "enabled": false},
	}})
	cs := p.connect(t, "/mcp", clientOptions{})
	us := func(t *testing.T, args map[string]any) string {
		t.Helper()
		res := call(t, cs, "upstream_servers", args)
		if res.IsError {
			t.Fatalf("upstream_servers %v: %s", args, textOf(res))
		}
		return textOf(res)
	}

	text := us(t, map[string]any{"operation": "update", "name": "gh", "url": "http://127.0.0.1:10/steal"})
	for _, want := range []string{"headers.Authorization", "headers.X-Api-Key", "oauth.client_secret", "quarantined"} {
		if !strings.Contains(text, want) {
			t.Errorf("update result does not name %q: %s", want, text)
		}
	}
	spec, _ := p.readConfig(t).Server("gh")
	if spec.URL != "http://127.0.0.1:10/steal" || !spec.Quarantined || len(spec.Headers) != 1 || spec.Headers["Accept"] != "application/json" {
		t.Errorf("gh after the agent's update: %+v", spec)
	}
	// The OAuth client's secret would go to the token endpoint the new
	// URL names; its id is no secret.
	if spec.OAuth == nil || spec.OAuth.ClientSecret != "" || spec.OAuth.ClientID != "mcpproxy-gh" {
		t.Errorf("gh's oauth after the agent moved it: %+v", spec.OAuth)
	}

	text = us(t, map[string]any{"operation": "update", "name": "cli", "args": []string{"-v"}})
	if !strings.Contains(text, "env.GITHUB_TOKEN") {
		t.Errorf("update result does not name env.GITHUB_TOKEN: %s", text)
	}
	spec, _ = p.readConfig(t).Server("cli")
	if _, kept := spec.Env["GITHUB_TOKEN"]; kept || spec.Env["PLAIN"] != "1" || !spec.Quarantined {
		t.Errorf("cli after the agent's update: %+v", spec)
	}

	// The agent may write a placeholder itself: the person sees it.
	us(t, map[string]any{"operation": "update", "name": "cli", "env": map[string]string{"MINE": "${env:OTHER}"}})
	if spec, _ = p.readConfig(t).Server("cli"); spec.Env["MINE"] != "${env:OTHER}" {
		t.Errorf("cli env the agent wrote: %+v", spec.Env)
	}

	for _, tc := range []struct{ name, field string }{{"inurl", "url"}, {"inargs", "args[1]"}} {
		before, _ := os.ReadFile(p.cfgPath)
		args := map[string]any{"operation": "update", "name": tc.name, "headers": map[string]string{"X": "1"}}
		if tc.name == "inargs" {
			args = map[string]any{"operation": "update", "name": tc.name, "env": map[string]string{"X": "1"}}
		}
		wantError(t, call(t, cs, "upstream_servers", args), tc.field, "secret")
		if after, _ := os.ReadFile(p.cfgPath); string(after) != string(before) {
			t.Errorf("a refused update of %s changed the config file", tc.name)
		}
	}
}

// TestUpstreamServers_AgentFields: an agent sets only config.AgentFields.
// What a person decides (quarantine, auto-approval, the OAuth client,
// enabled) is ignored and named, never written; and the input schema
// offers nothing else.
func TestUpstreamServers_AgentFields(t *testing.T) {
	p := newProxy(t, proxyOptions{Servers: []map[string]any{
		{"name": "s", "command": "/bin/cat", "enabled": false},
	}})
	cs := p.connect(t, "/mcp", clientOptions{})
	person := map[string]any{"quarantined": false, "auto_approve_tool_changes": true, "enabled": false,
		"oauth": map[string]any{"client_id": "x"}, "call_timeout": "1h", "frobnicate": 1}
	wantIgnored := []string{"auto_approve_tool_changes", "call_timeout", "enabled", "frobnicate", "oauth", "quarantined"}
	for _, op := range []string{"add", "update"} {
		args := map[string]any{"operation": op, "name": "s", "url": "http://127.0.0.1:9/mcp"}
		if op == "add" {
			args["name"] = "new"
		}
		maps.Copy(args, person)
		res := call(t, cs, "upstream_servers", args)
		if res.IsError {
			t.Fatalf("%s: %s", op, textOf(res))
		}
		var out struct {
			Ignored []string `json:"ignored"`
			Message string   `json:"message"`
		}
		if err := json.Unmarshal([]byte(textOf(res)), &out); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out.Ignored, wantIgnored) || !strings.Contains(out.Message, "quarantined") || !strings.Contains(out.Message, "Ignored arguments") {
			t.Errorf("%s: ignored %v, message %q; want %v named", op, out.Ignored, out.Message, wantIgnored)
		}
		spec, _ := p.readConfig(t).Server(args["name"].(string))
		if !spec.Quarantined || spec.AutoApproveToolChanges || spec.OAuth != nil || spec.CallTimeout != 0 || spec.Enabled != (op == "add") {
			t.Errorf("%s: the agent set a person's field: %+v", op, spec)
		}
	}

	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
	}
	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range tools.Tools {
		if tool.Name == "upstream_servers" {
			b, _ := json.Marshal(tool.InputSchema)
			if err := json.Unmarshal(b, &schema); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := slices.Sorted(maps.Keys(schema.Properties))
	want := slices.Sorted(slices.Values(append([]string{"operation"}, config.AgentFields...)))
	if !slices.Equal(got, want) || !slices.Equal(schema.Required, []string{"operation"}) {
		t.Errorf("upstream_servers schema: properties %v required %v; want %v, [operation]", got, schema.Required, want)
	}
}
