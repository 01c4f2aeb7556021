package supervisor

import (
	"context"
	"slices"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/config"

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

// Unquarantine approves the named server as the person reviewed it: the
// spec whose fingerprint (pinning.SpecFingerprint) they name. A spec that
// changed since is refused with a conflict whose details are the new
// review. The server then starts; the first tools a server never approved
// before lists are approved with it (trust on first use), while a server
// with approved tools keeps them and has new or changed ones wait.
func (s *Supervisor) Unquarantine(ctx context.Context, name, fingerprint string) error {
	spec, ok := s.Config().Server(name)
	if !ok {
		return mcpproxy.Errorf(mcpproxy.ENOTFOUND, "server %q not found", name)
	}
	if fingerprint == "" {
		return mcpproxy.Errorf(mcpproxy.EINVALID, "fingerprint: required: approve the spec you reviewed (GET /api/v1/servers/%s gives its fingerprint)", name)
	}
	if err := s.sameSpec(spec, fingerprint); err != nil {
		return err
	}
	if s.opts.Pins != nil && !s.opts.Pins.Known(name) {
		if err := s.opts.Pins.ApproveUnlisted(name); err != nil {
			return err
		}
	}
	if spec.Quarantined {
		// Checked again inside the edit: an agent's update written
		// between the check above and this write must not be approved.
		return s.edit(ctx, name, func(d *config.Document) error {
			cur, err := d.Server(name)
			if err != nil {
				return err
			}
			if err := s.sameSpec(&cur, fingerprint); err != nil {
				return err
			}
			return d.SetServerField(name, "quarantined", false)
		})
	}
	s.restamp(name)
	return nil
}

// sameSpec refuses an approval of fingerprint when spec is no longer the
// spec it names.
func (s *Supervisor) sameSpec(spec *mcpproxy.ServerSpec, fingerprint string) error {
	if fp := pinning.SpecFingerprint(spec); fp != fingerprint {
		e := mcpproxy.Errorf(mcpproxy.ECONFLICT, "server %q changed since it was reviewed (fingerprint %s, not %s): review it again", spec.Name, short(fp), short(fingerprint))
		e.Details = s.ReviewServer(spec)
		return e
	}
	return nil
}

func short(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}

// ReviewServer returns what a person approving spec should read.
func (s *Supervisor) ReviewServer(spec *mcpproxy.ServerSpec) mcpproxy.ServerReview {
	var (
		rec pinning.SpecRecord
		ok  bool
	)
	if s.opts.Pins != nil {
		rec, ok = s.opts.Pins.ApprovedSpec(spec.Name)
	}
	return pinning.ReviewSpec(spec, rec, ok)
}

// ApproveTools approves the named tools of a server, each as the person
// reviewed it: a tool whose listed definition no longer has the fingerprint
// they name is refused (nothing is approved) with a conflict whose details
// are the tools' current review. It returns the names approved.
func (s *Supervisor) ApproveTools(name string, refs []mcpproxy.ToolRef) ([]string, error) {
	if s.opts.Pins == nil {
		return nil, mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "tool approval is not available in this mode")
	}
	srv := s.view.Load().Get(name)
	if srv == nil {
		return nil, mcpproxy.Errorf(mcpproxy.ENOTFOUND, "server %q not found", name)
	}
	if len(refs) == 0 {
		return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "tools: name at least one tool with the fingerprint you reviewed")
	}
	byName := make(map[string]int, len(srv.Tools))
	for i := range srv.Tools {
		byName[srv.Tools[i].Name] = i
	}
	chosen := make([]mcpproxy.Tool, 0, len(refs))
	var stale []string
	for i, ref := range refs {
		j, ok := byName[ref.Name]
		switch {
		case ref.Name == "":
			return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "tools[%d].name: required", i)
		case ref.Fingerprint == "":
			return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "tools[%d].fingerprint: required: approve the definition you reviewed (GET /api/v1/servers/%s/tools gives it)", i, name)
		case !ok:
			return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "tools[%d]: server %q lists no tool %q", i, name, ref.Name)
		case srv.Tools[j].Fingerprint != ref.Fingerprint:
			stale = append(stale, ref.Name)
		}
		chosen = append(chosen, srv.Tools[j])
	}
	if len(stale) > 0 {
		e := mcpproxy.Errorf(mcpproxy.ECONFLICT, "%s changed since reviewed; nothing was approved: review again", strings.Join(stale, ", "))
		var details []pinning.ToolView
		for _, tv := range pinning.Review(srv, s.ApprovedTool) {
			if slices.Contains(stale, tv.Name) {
				details = append(details, tv)
			}
		}
		e.Details = details
		return nil, e
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

// restamp re-evaluates the named server's quarantine and its tools'
// approval after a decision, starting or stopping it as that says.
func (s *Supervisor) restamp(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[name]; e != nil && !s.closed {
		s.reconsiderLocked(e, s.cfg.Load(), true)
	}
}

func toolNames(tools []mcpproxy.Tool) []string {
	out := make([]string, len(tools))
	for i := range tools {
		out[i] = tools[i].Name
	}
	return out
}
