package secret

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

// Mask replaces a secret in redacted text.
const Mask = "***"

// MinRedactLen is the shortest value a Redactor masks: shorter ones would
// mangle ordinary text ("on", "123") without hiding much.
const MinRedactLen = 4

// Redactor masks known secret values in text. It is immutable after
// creation and safe for concurrent use; a nil *Redactor masks nothing.
type Redactor struct {
	values  []string // distinct secrets as given, in order
	needles []string // values and their escaped forms, longest first
}

// NewRedactor returns a Redactor for values, ignoring those shorter than
// MinRedactLen bytes. Besides each value it masks the forms the value takes
// in URLs (query- and path-escaped) and inside JSON strings, where those
// differ.
func NewRedactor(values ...string) *Redactor {
	r := &Redactor{}
	for _, v := range values {
		if len(v) >= MinRedactLen && !slices.Contains(r.values, v) {
			r.values = append(r.values, v)
		}
	}
	add := func(s string) {
		if len(s) >= MinRedactLen && !slices.Contains(r.needles, s) {
			r.needles = append(r.needles, s)
		}
	}
	for _, v := range r.values {
		add(v)
		add(url.QueryEscape(v))
		add(url.PathEscape(v))
		for _, f := range jsonForms(v) {
			add(f)
		}
	}
	// Longest first, so that where one secret contains another the longer
	// one is found whole; then by content, so the order never depends on
	// the order values came in.
	slices.SortFunc(r.needles, func(a, b string) int {
		if c := cmp.Compare(len(b), len(a)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return r
}

// jsonForms returns v as it appears inside a JSON string, with and without
// the HTML escaping encoding/json does by default.
func jsonForms(v string) []string {
	var out []string
	for _, html := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if err := enc.Encode(v); err != nil {
			continue
		}
		q := strings.TrimSuffix(b.String(), "\n")
		out = append(out, q[1:len(q)-1])
	}
	return out
}

// Empty reports whether r masks nothing.
func (r *Redactor) Empty() bool { return r == nil || len(r.values) == 0 }

// Merge returns a Redactor with the values of both. Either may be nil; the
// result is nil only if both are empty and o is nil.
func (r *Redactor) Merge(o *Redactor) *Redactor {
	switch {
	case o.Empty():
		if r.Empty() {
			return o
		}
		return r
	case r.Empty():
		return o
	}
	return NewRedactor(append(slices.Clone(r.values), o.values...)...)
}

// Redact replaces every occurrence of every secret in s, and of its escaped
// forms, with Mask. Where occurrences overlap or touch, the whole stretch
// becomes one Mask, so no part of any secret is left. When nothing matches,
// s is returned without allocating.
func (r *Redactor) Redact(s string) string {
	if r == nil || len(r.needles) == 0 || len(s) < MinRedactLen {
		return s
	}
	// A secret containing '*' could reappear where a Mask meets the text
	// around it; each pass makes s shorter, so repeating until nothing
	// matches ends.
	for {
		spans := r.find(s)
		if len(spans) == 0 {
			return s
		}
		var b strings.Builder
		b.Grow(len(s))
		last := 0
		for _, sp := range spans {
			b.WriteString(s[last:sp[0]])
			b.WriteString(Mask)
			last = sp[1]
		}
		b.WriteString(s[last:])
		s = b.String()
	}
}

// find returns the stretches of s covered by occurrences of the needles,
// merged where they overlap or touch, in order; nil if there are none.
func (r *Redactor) find(s string) [][2]int {
	var spans [][2]int
	for _, n := range r.needles {
		first := len(spans)
		for i := 0; i+len(n) <= len(s); {
			k := strings.Index(s[i:], n)
			if k < 0 {
				break
			}
			start, end := i+k, i+k+len(n)
			// Occurrences of one secret may overlap ("abab" in "ababab");
			// extend the previous one rather than add another.
			if len(spans) > first && start <= spans[len(spans)-1][1] {
				spans[len(spans)-1][1] = end
			} else {
				spans = append(spans, [2]int{start, end})
			}
			i = start + 1
		}
	}
	if len(spans) == 0 {
		return nil
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return cmp.Compare(a[0], b[0]) })
	merged := spans[:1]
	for _, sp := range spans[1:] {
		if last := &merged[len(merged)-1]; sp[0] <= last[1] {
			last[1] = max(last[1], sp[1])
		} else {
			merged = append(merged, sp)
		}
	}
	return merged
}
