//go:build linux

package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
)

// post sends an authenticated POST from any goroutine and returns the
// status, or an error when there was no answer.
func (p *proxy) post(client *http.Client, path, body string) (int, error) {
	req, err := http.NewRequest("POST", p.Base+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-API-Key", p.Key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestReliability_Kill9DuringWrites: while servers are added, one is
// enabled and disabled, a tool is blocked and approved, and tools are
// called, mcpproxy is killed with SIGKILL. Started again on the same config
// and data dir, it opens its store, the config file parses and holds every
// change that was answered with a 2xx, the last answered approval holds,
// and the activity log has every call that finished a second before the
// kill (the log commits in batches of at most 100ms).
func TestReliability_Kill9DuringWrites(t *testing.T) {
	p := startProxy(t, configJSON(t, []map[string]any{
		stdio("good", testupstream.ModeOK),
		stdio("toggle", testupstream.ModeOK),
	}))
	settle(t, p, 30*time.Second, map[string]string{"good": "ready", "toggle": "ready"})
	p.waitApproval(t, "good", "add", "approved")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second}
	stop := make(chan struct{})
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	var wg sync.WaitGroup

	// Each writer keeps what was acknowledged and what was in flight.
	var added []string // acknowledged adds
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stopped(); i++ {
			name := fmt.Sprintf("added-%03d", i)
			s := stdio(name, testupstream.ModeOK)
			s["enabled"] = false
			if code, err := p.post(client, "/api/v1/servers", mustJSON(t, s)); err == nil && code == 201 {
				added = append(added, name)
			}
		}
	}()
	// Each sequential writer keeps every value it sent and the index of the
	// last one acknowledged. Only the request after that one can have
	// reached the daemon unacknowledged (in flight at the kill): the loop
	// goes on after the kill, but those requests are refused.
	var toggleAcked, toggleSent []bool // enabled, as acknowledged / as sent
	toggleLastAck := -1
	var toggleLog []string // every toggle request and its answer, for a failure
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stopped(); i++ {
			enable := i%2 == 1
			toggleSent = append(toggleSent, enable)
			path := "/api/v1/servers/toggle/disable"
			if enable {
				path = "/api/v1/servers/toggle/enable"
			}
			code, err := p.post(client, path, "")
			toggleLog = append(toggleLog, fmt.Sprintf("%s %s: %d %v", time.Now().Format("15:04:05.000000"), path, code, err))
			if err == nil && code/100 == 2 {
				toggleAcked = append(toggleAcked, enable)
				toggleLastAck = i
			}
		}
	}()
	addFP := p.reviewed(t, "good", "add").Fingerprint
	var approvalAcked, approvalSent []string // "approved" or "blocked"
	approvalLastAck := -1
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stopped(); i++ {
			decision := []string{"blocked", "approved"}[i%2]
			approvalSent = append(approvalSent, decision)
			path := map[string]string{"blocked": "/api/v1/servers/good/tools/block", "approved": "/api/v1/servers/good/tools/approve"}[decision]
			body := map[string]string{"blocked": `{"tools":["add"]}`, "approved": `{"tools":[{"name":"add","fingerprint":"` + addFP + `"}]}`}[decision]
			if code, err := p.post(client, path, body); err == nil && code == 200 {
				approvalAcked = append(approvalAcked, decision)
				approvalLastAck = i
			}
		}
	}()
	var callsMu sync.Mutex
	var callsDone []time.Time // when each successful call returned
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs, err := connectMCP(ctx, p.Base)
			if err != nil {
				return
			}
			defer cs.Close()
			for i := 0; !stopped(); i++ {
				cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
				err := echoVia(cctx, cs, "good:echo", fmt.Sprintf("w%d-%d", w, i))
				ccancel()
				if err == nil {
					callsMu.Lock()
					callsDone = append(callsDone, time.Now())
					callsMu.Unlock()
				}
			}
		}()
	}

	time.Sleep(3 * time.Second)
	p.track(t)
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
	killedAt := time.Now()
	if err := syscall.Kill(p.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.waitExit(t, 10*time.Second)
	close(stop)
	cancel()
	wg.Wait()
	var before int
	for _, at := range callsDone {
		if at.Before(killedAt.Add(-time.Second)) {
			before++
		}
	}
	t.Logf("before the kill: %d adds, %d toggles, %d approvals and %d calls acknowledged (%d calls a second before it)",
		len(added), len(toggleAcked), len(approvalAcked), len(callsDone), before)
	if len(added) == 0 || len(toggleAcked) == 0 || len(approvalAcked) == 0 || before == 0 {
		t.Fatalf("the load did not get going before the kill")
	}

	cfg := readConfig(t, p.ConfigPath) // fails the test unless it parses
	inFile := map[string]map[string]any{}
	list, _ := cfg["mcpServers"].([]any)
	for _, s := range list {
		if m, ok := s.(map[string]any); ok {
			name, _ := m["name"].(string)
			inFile[name] = m
		}
	}
	for _, name := range added {
		if inFile[name] == nil {
			t.Errorf("server %s, added with a 201 before the kill, is not in the config file", name)
		}
	}
	// Acceptable: the last acknowledged value, or the next one sent, which
	// may have been in flight at the kill.
	toggleOK := []bool{toggleSent[toggleLastAck], toggleSent[min(toggleLastAck+1, len(toggleSent)-1)]}
	enabled := true
	if e, ok := inFile["toggle"]["enabled"].(bool); ok {
		enabled = e
	}
	if enabled != toggleOK[0] && enabled != toggleOK[1] {
		t.Errorf("toggle enabled=%v in the file (entry %v), want the last acknowledged %v; killed at %s; last requests:\n%s",
			enabled, inFile["toggle"], toggleOK[0], killedAt.Format("15:04:05.000000"), strings.Join(toggleLog[max(0, len(toggleLog)-6):], "\n"))
	}

	start := time.Now()
	p2 := launch(t, p.Dir, []string{"serve", "-c", p.ConfigPath, "-l", "127.0.0.1:0"})
	p2.ConfigPath, p2.DataDir, p2.Key = p.ConfigPath, p.DataDir, p.Key
	p2.waitStarted(t)
	p2.data(t, "GET", "/api/v1/status", nil)
	t.Logf("restarted after kill -9 in %v", time.Since(start).Round(time.Millisecond))
	p2.waitState(t, "good", 30*time.Second, "ready")
	got := p2.reviewed(t, "good", "add").Approval
	if last, sent := approvalSent[approvalLastAck], approvalSent[min(approvalLastAck+1, len(approvalSent)-1)]; got != last && got != sent {
		t.Errorf("good:add approval %q after the restart, want the last acknowledged %q", got, last)
	}
	var n int
	for cursor := ""; ; {
		var page struct {
			Records []struct {
				Status string `json:"status"`
			} `json:"records"`
			NextCursor string `json:"next_cursor"`
		}
		p2.data(t, "GET", "/api/v1/activity?kind=tool_call&server=good&tool=echo&status=ok&limit=1000&cursor="+cursor, &page)
		n += len(page.Records)
		if page.NextCursor == "" || len(page.Records) == 0 {
			break
		}
		cursor = page.NextCursor
	}
	t.Logf("activity after the restart: %d ok calls of good:echo (%d acknowledged, %d a second before the kill)", n, len(callsDone), before)
	if n < before {
		t.Errorf("activity has %d ok calls of good:echo after the restart, want at least the %d that returned a second before the kill", n, before)
	}
}
