package activity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/secret"
)

// maxArgsJSON caps the stored arguments of one record, after redaction and
// per-string truncation.
const maxArgsJSON = 16 << 10

// redacted replaces a secret.
const redacted = secret.Mask

// redactor removes secrets from arguments and error text, then truncates.
// It runs on the log's writer goroutine, never on the caller's.
type redactor struct {
	extra    func(string) string // Options.Redact; may be nil
	maxBytes int                 // Options.MaxArgBytes
}

// args returns raw with secrets replaced and long strings truncated. JSON
// keeps its shape and key order; anything else is stored as a JSON string.
func (rd redactor) args(raw json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if !json.Valid(raw) {
		return marshalString(rd.text(string(raw)))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var buf bytes.Buffer
	if err := rd.value(dec, &buf); err != nil {
		// Unreachable for valid JSON; never store what could not be redacted.
		return marshalString(fmt.Sprintf("(arguments not recorded: %v)", err))
	}
	if buf.Len() <= maxArgsJSON {
		return buf.Bytes()
	}
	// Too big as a whole: keep the start as text. Escaping can grow the
	// text, so shrink until the encoded string fits.
	s, total := buf.String(), buf.Len()
	for n := maxArgsJSON; ; n = n * 3 / 4 {
		out := marshalString(mcpproxy.CutBytes(s, n) + truncatedNote(total))
		if len(out) <= maxArgsJSON+64 || n < 64 {
			return out
		}
	}
}

// value copies one JSON value from dec to buf, redacting as it goes.
func (rd redactor) value(dec *json.Decoder, buf *bytes.Buffer) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		opening, closing := byte(t), byte('}')
		if t == '[' {
			closing = ']'
		}
		buf.WriteByte(opening)
		for i := 0; dec.More(); i++ {
			if i > 0 {
				buf.WriteByte(',')
			}
			if opening == '[' {
				if err := rd.value(dec, buf); err != nil {
					return err
				}
				continue
			}
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			buf.Write(marshalString(rd.scrub(k)))
			buf.WriteByte(':')
			if secret.LooksSecretKey(k) {
				if err := skipValue(dec); err != nil {
					return err
				}
				buf.Write(marshalString(redacted))
				continue
			}
			if err := rd.value(dec, buf); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
		buf.WriteByte(closing)
	case string:
		buf.Write(marshalString(rd.text(t)))
	case json.Number:
		buf.WriteString(t.String())
	case bool:
		if t {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case nil:
		buf.WriteString("null")
	}
	return nil
}

// skipValue consumes one value, however deeply nested.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// scrub replaces credential-shaped text and applies the extra redaction.
func (rd redactor) scrub(s string) string {
	s = scrubSecrets(s)
	if rd.extra != nil {
		s = rd.extra(s)
	}
	return s
}

// scrubMargin is how much more than it keeps text scrubs of a long
// string, so that a credential crossing the cut is still recognised by its
// start; it is longer than the shortest credential scrubSecrets recognises.
const scrubMargin = 256

// text scrubs s and truncates it to maxBytes. Of a long string only the
// part that can be kept is scrubbed: scrubbing all of a megabyte-sized
// argument cost the log's writer seconds per record, and held shutdown.
func (rd redactor) text(s string) string {
	total := len(s)
	if total <= rd.maxBytes+scrubMargin {
		s = rd.scrub(s)
		if len(s) <= rd.maxBytes {
			return s
		}
		return mcpproxy.CutBytes(s, rd.maxBytes) + truncatedNote(len(s))
	}
	s = rd.scrub(mcpproxy.CutBytes(s, rd.maxBytes+scrubMargin))
	// The end of the scrubbed part may hold the start of a credential too
	// short to be recognised; it is kept only if it falls past the cut.
	keep := min(rd.maxBytes, len(s)-scrubMargin/2)
	return mcpproxy.CutBytes(s, max(keep, 0)) + truncatedNote(total)
}

func truncatedNote(n int) string { return fmt.Sprintf("…(truncated, %d bytes)", n) }

func marshalString(s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}

// scrubSecrets replaces every sensitive span secret.Find finds in s with
// "***"; a value that is entirely one becomes exactly "***".
func scrubSecrets(s string) string {
	return scrubSpans(s, secret.Find(s))
}

func scrubSpans(s string, spans []secret.Span) string {
	if len(spans) == 0 {
		return s
	}
	out := secret.Replace(s, spans, func(secret.Kind) string { return redacted })
	if strings.TrimSpace(out) == redacted {
		return redacted
	}
	return out
}
