package mcpserver

import (
	"encoding/json"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/secret"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// maxScan bounds the bytes of one call's arguments, and separately of its
// result, that are searched for sensitive data. Beyond it a result is
// neither flagged nor redacted nor blocked: detection is linear in what it
// reads, and a result of many megabytes is data, not a message.
const maxScan = 4 << 20

// sensitiveMode is the configured sensitive_data mode.
func (s *Server) sensitiveMode() string {
	if m := s.b.Config().SensitiveData; m != "" {
		return m
	}
	return config.SensitiveFlag
}

// scanArgs returns the kinds of sensitive data in a call's arguments (the
// first maxScan bytes of their JSON).
func scanArgs(args json.RawMessage) []secret.Kind {
	if len(args) > maxScan {
		args = args[:maxScan]
	}
	if len(args) < 8 {
		return nil
	}
	return secret.Kinds(secret.Find(string(args)))
}

// refuseArgs is the result of a call refused because its arguments carry
// sensitive data: it names the kinds, never the data.
func refuseArgs(server, sep, tool string, kinds []secret.Kind) *mcp.CallToolResult {
	return errorResult("call to %s%s%s refused: its arguments carry sensitive data (%s), and this proxy's sensitive_data setting is block. "+
		"Pass a reference the tool can resolve instead of the secret itself, or ask a person to change the setting.",
		server, sep, tool, kindList(kinds))
}

// withheldResult replaces a result that carries sensitive data in block
// mode.
func withheldResult(server, sep, tool string, kinds []secret.Kind) *mcp.CallToolResult {
	return errorResult("the result of %s%s%s was withheld: it carries sensitive data (%s), and this proxy's sensitive_data setting is block",
		server, sep, tool, kindList(kinds))
}

func kindList(kinds []secret.Kind) string {
	var b strings.Builder
	for i, k := range kinds {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(k))
	}
	return b.String()
}

func kindStrings(kinds []secret.Kind) []string {
	if len(kinds) == 0 {
		return nil
	}
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = string(k)
	}
	return out
}

// sensitiveRecord is what the activity record says about a call's
// sensitive data; nil if none was found.
func sensitiveRecord(mode string, args, result []secret.Kind) *activity.Sensitive {
	if len(args) == 0 && len(result) == 0 {
		return nil
	}
	return &activity.Sensitive{Arguments: kindStrings(args), Result: kindStrings(result), Action: mode}
}

// guardResult searches a result's text (text content, embedded text
// resources and structured content; the first maxScan bytes in all) for
// sensitive data and applies mode: flag returns res as it is, redact a copy
// with each finding replaced by [redacted:KIND], block an error result
// naming the kinds. It returns the result to send and the kinds found.
// res itself is never modified.
func guardResult(mode string, res *mcp.CallToolResult, server, sep, tool string) (*mcp.CallToolResult, []secret.Kind) {
	if res == nil {
		return nil, nil
	}
	budget := maxScan
	var kinds []secret.Kind
	var redacted []mcp.Content // copy-on-write of res.Content, in redact mode
	scan := func(text string) []secret.Span {
		if budget <= 0 || len(text) < 8 {
			return nil
		}
		if len(text) > budget {
			text = text[:budget]
		}
		budget -= len(text)
		spans := secret.Find(text)
		kinds = secret.MergeKinds(kinds, secret.Kinds(spans))
		return spans
	}
	for i, c := range res.Content {
		var replaced mcp.Content
		switch c := c.(type) {
		case *mcp.TextContent:
			if spans := scan(c.Text); len(spans) > 0 && mode == config.SensitiveRedact {
				cp := *c
				cp.Text = secret.Replace(c.Text, spans, secret.Label)
				replaced = &cp
			}
		case *mcp.EmbeddedResource:
			if c.Resource == nil {
				continue
			}
			if spans := scan(c.Resource.Text); len(spans) > 0 && mode == config.SensitiveRedact {
				rc := *c.Resource
				rc.Text = secret.Replace(rc.Text, spans, secret.Label)
				cp := *c
				cp.Resource = &rc
				replaced = &cp
			}
		}
		if replaced != nil {
			if redacted == nil {
				redacted = append([]mcp.Content(nil), res.Content...)
			}
			redacted[i] = replaced
		}
	}
	var structured any
	structuredChanged := false
	if res.StructuredContent != nil && budget > 0 {
		if raw, err := json.Marshal(res.StructuredContent); err == nil {
			text := string(raw)
			if spans := scan(text); len(spans) > 0 && mode == config.SensitiveRedact {
				structuredChanged = true
				// The labels hold no quote or backslash, so replacing inside
				// strings keeps the JSON valid; a finding that spans the
				// JSON's own syntax does not, and then the structured
				// content is left out (the text content carries the result).
				if out := secret.Replace(text, spans, secret.Label); json.Valid([]byte(out)) {
					structured = json.RawMessage(out)
				}
			}
		}
	}
	switch {
	case len(kinds) == 0 || mode == config.SensitiveFlag:
		return res, kinds
	case mode == config.SensitiveBlock:
		return withheldResult(server, sep, tool, kinds), kinds
	}
	out := *res
	if redacted != nil {
		out.Content = redacted
	}
	if structuredChanged {
		out.StructuredContent = structured
	}
	return &out, kinds
}
