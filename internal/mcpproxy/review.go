package mcpproxy

import "time"

// Review types: what a person approving a server or a tool reads. The
// pinning package fills them in; the REST API and its client share them.

// SpecView is a server's spec as a person reviewing it sees it: every field
// as written, ${env:NAME} placeholders kept (never their values), and
// literal values that look like secrets shown as "***".
type SpecView struct {
	Protocol   Protocol          `json:"protocol"`
	Command    string            `json:"command,omitempty"`
	Args       []string          `json:"args,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	WorkingDir string            `json:"working_dir,omitempty"`
	URL        string            `json:"url,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	OAuth      *OAuthSpec        `json:"oauth,omitempty"`
	// Secrets names the environment variables the server would be given
	// (the placeholders it holds), by field.
	Secrets []SecretRef `json:"secrets,omitempty"`
}

// SecretRef is one ${env:NAME} placeholder of a spec.
type SecretRef struct {
	Field string `json:"field"`
	Env   string `json:"env"`
}

// FieldChange is one field of a spec that differs from the approved one,
// with both values as shown for review ("" when absent).
type FieldChange struct {
	Field  string `json:"field"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// ServerReview is what a person approving a server reads: its spec, the
// fingerprint an approval must name, what changed since the spec last
// approved, and warnings.
type ServerReview struct {
	Spec        SpecView      `json:"spec"`
	Fingerprint string        `json:"fingerprint"`
	Approved    *SpecView     `json:"approved_spec,omitempty"`
	ApprovedAt  *time.Time    `json:"approved_at,omitempty"`
	Diff        []FieldChange `json:"diff,omitempty"`
	Warnings    []Warning     `json:"warnings,omitempty"`
}

// ToolRef names one tool definition a person reviewed: approvals name the
// fingerprint, so that what changed after the review is not approved.
type ToolRef struct {
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
}
