package supervisor

import (
	"context"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/pinning"
)

// These are a person's decisions (REST, CLI, UI). No MCP tool calls them:
// an agent must never be able to approve what it added or changed.

// Quarantine withholds the named server's tools until a person approves it
// again. It returns once the config file is written.
func (s *Supervisor) Quarantine(ctx context.Context, name string) error {
	return s.SetQuarantined(ctx, name, true)
}

// Unquarantine approves the named server and the tools it lists now (except
// tools a person blocked), then releases it.
func (s *Supervisor) Unquarantine(ctx context.Context, name string) error {
	spec, ok := s.Config().Server(name)
	if !ok {
		return mcpproxy.Errorf(mcpproxy.ENOTFOUND, "server %q not found", name)
	}
	inConfig := spec.Quarantined
	if s.opts.Pins != nil {
		var err error
		// Approve what the person could see; a server that has not
		// listed its tools yet gets its first listing approved instead.
		if srv := s.view.Load().Get(name); srv != nil && (srv.State == mcpproxy.StateReady || len(srv.Tools) > 0) {
			err = s.opts.Pins.ApproveServer(name, srv.Tools)
		} else {
			err = s.opts.Pins.ApproveUnlisted(name)
		}
		if err != nil {
			return err
		}
	}
	if inConfig {
		return s.SetQuarantined(ctx, name, false)
	}
	s.restamp(name)
	return nil
}

// ApproveTools approves the named tools of a server as they are listed now
// (or every listed tool with all), and returns the names approved.
func (s *Supervisor) ApproveTools(name string, tools []string, all bool) ([]string, error) {
	chosen, err := s.chooseTools(name, tools, all)
	if err != nil {
		return nil, err
	}
	if err := s.opts.Pins.Approve(name, chosen); err != nil {
		return nil, err
	}
	s.restamp(name)
	return toolNames(chosen), nil
}

// BlockTools blocks the named tools of a server (or all of them).
func (s *Supervisor) BlockTools(name string, tools []string, all bool) ([]string, error) {
	chosen, err := s.chooseTools(name, tools, all)
	if err != nil {
		return nil, err
	}
	if err := s.opts.Pins.Block(name, chosen); err != nil {
		return nil, err
	}
	s.restamp(name)
	return toolNames(chosen), nil
}

// ApprovedTool returns the definition a person (or trust on first use)
// approved for a tool, to show what changed since.
func (s *Supervisor) ApprovedTool(server, tool string) (pinning.Pin, bool) {
	if s.opts.Pins == nil {
		return pinning.Pin{}, false
	}
	return s.opts.Pins.Pin(server, tool)
}

func (s *Supervisor) chooseTools(name string, tools []string, all bool) ([]mcpproxy.Tool, error) {
	if s.opts.Pins == nil {
		return nil, mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "tool approval is not available in this mode")
	}
	srv := s.view.Load().Get(name)
	if srv == nil {
		return nil, mcpproxy.Errorf(mcpproxy.ENOTFOUND, "server %q not found", name)
	}
	switch {
	case all && len(tools) > 0:
		return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "tools: give either tools or all, not both")
	case all:
		if len(srv.Tools) == 0 {
			return nil, mcpproxy.Errorf(mcpproxy.ECONFLICT, "server %q lists no tools (state %s); connect it first", name, srv.State)
		}
		return srv.Tools, nil
	case len(tools) == 0:
		return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "tools: name at least one tool, or set all to true")
	}
	byName := make(map[string]int, len(srv.Tools))
	for i := range srv.Tools {
		byName[srv.Tools[i].Name] = i
	}
	chosen := make([]mcpproxy.Tool, 0, len(tools))
	for i, t := range tools {
		j, ok := byName[t]
		if !ok {
			return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "tools[%d]: server %q lists no tool %q", i, name, t)
		}
		chosen = append(chosen, srv.Tools[j])
	}
	return chosen, nil
}

// restamp re-evaluates the named server's quarantine flag and its tools'
// approval after a decision.
func (s *Supervisor) restamp(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[name]; e != nil && !s.closed {
		s.refreshLocked(e, s.cfg.Load(), true)
	}
}

func toolNames(tools []mcpproxy.Tool) []string {
	out := make([]string, len(tools))
	for i := range tools {
		out[i] = tools[i].Name
	}
	return out
}
