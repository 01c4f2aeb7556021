package mcpproxy

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes. Each maps once to an HTTP status (httpapi) and once to an MCP
// tool error (mcpserver).
const (
	ENOTFOUND     = "not_found"
	EINVALID      = "invalid"
	ECONFLICT     = "conflict"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	EUNAVAILABLE  = "unavailable"
	ETOOLARGE     = "too_large"
	EINTERNAL     = "internal"
)

// Error is the application error: a code for machines and a message for people.
type Error struct {
	Code    string
	Message string
	// Details, if not nil, is shown to the caller with the message: what
	// a refused approval would have approved instead, for instance.
	Details any
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// Flatten folds errors.Join'ed errors (a validation reports every problem)
// into one *Error with the first one's code whose message lists them all,
// "; " between, so that a caller sees every problem rather than the first.
// Other errors are returned as they are.
func Flatten(err error) error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	var msgs []string
	for _, e := range j.Unwrap() {
		msgs = append(msgs, ErrorMessage(e))
	}
	return &Error{Code: ErrorCode(err), Message: strings.Join(msgs, "; ")}
}

// ErrorMessage returns the message of the first *Error in err's chain, or
// err.Error() for other errors.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// MaxShortError is the most characters ShortError keeps.
const MaxShortError = 300

// ShortError reduces an upstream's error text to what a person or an agent
// needs to see: its first non-empty line and, when that line does not say
// what failed, the first later line that does (the "Error: …" line of a
// Node stack, say), cut to MaxShortError characters. An upstream's output
// is never passed on whole: a server that prints a file, or answers with a
// 4 MB HTML page, must not get it into every status read and event.
func ShortError(msg string) string {
	first, rest := "", msg
	for rest != "" && first == "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		first = strings.TrimSpace(line)
	}
	if !hasErrorWord(first) {
		for rest != "" {
			var line string
			line, rest, _ = strings.Cut(rest, "\n")
			if line = strings.TrimSpace(line); hasErrorWord(line) {
				first += ": " + line
				break
			}
		}
	}
	return cutRunes(first, MaxShortError)
}

// hasErrorWord reports whether a line names an error ("Error: …",
// "TypeError: …", "error: …").
func hasErrorWord(line string) bool {
	i := strings.Index(strings.ToLower(line), "error")
	return i >= 0 && strings.Contains(line[i:], ":")
}

func cutRunes(s string, n int) string {
	count := 0
	for i := range s {
		if count == n {
			return s[:i] + "…"
		}
		count++
	}
	return s
}
