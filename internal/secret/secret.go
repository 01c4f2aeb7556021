package secret

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

const placeholderStart = "${env:"

// Expand replaces every ${env:NAME} in s (NAME = [A-Za-z_][A-Za-z0-9_]*)
// with lookup(NAME). It returns the expanded string and the distinct values
// it substituted, in order. An unset variable, an empty or bad NAME, or an
// unterminated "${env:" is an error naming the variable, such as
// `${env:GITHUB_TOKEN} is not set`; each problem is an *mcpproxy.Error with
// code EINVALID, joined with errors.Join when there are several, and the
// string is then "".
//
// "$${" is an escape producing a literal "${", read left to right, so
// "$${env:X}" is the text ${env:X}. Other text, including "${other}" and
// "${ENV:X}" (the prefix is case-sensitive), is left unchanged.
func Expand(s string, lookup func(string) (string, bool)) (string, []string, error) {
	out, values, problems := expand(s, lookup)
	if len(problems) > 0 {
		errs := make([]error, len(problems))
		for i, p := range problems {
			errs[i] = mcpproxy.Errorf(mcpproxy.EINVALID, "%s", p)
		}
		return "", nil, errors.Join(errs...)
	}
	return out, values, nil
}

// expand is Expand with the problems as text, for callers that prefix them.
func expand(s string, lookup func(string) (string, bool)) (out string, values, problems []string) {
	if !strings.Contains(s, "${") {
		return s, nil, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '$')
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		j += i
		b.WriteString(s[i:j])
		rest := s[j:]
		switch {
		case strings.HasPrefix(rest, "$${"):
			b.WriteString("${")
			i = j + len("$${")
		case strings.HasPrefix(rest, placeholderStart):
			name, n, problem := parsePlaceholder(rest)
			i = j + n
			if problem != "" {
				problems = append(problems, problem)
				continue
			}
			v, ok := lookup(name)
			if !ok {
				problems = append(problems, placeholderStart+shownName(name)+"} is not set")
				continue
			}
			b.WriteString(v)
			if !slices.Contains(values, v) {
				values = append(values, v)
			}
		default:
			b.WriteByte('$')
			i = j + 1
		}
	}
	return b.String(), values, problems
}

// maxShownName caps how much of a name an error shows.
const maxShownName = 40

// parsePlaceholder reads the placeholder at the start of s, which begins
// with "${env:". It returns the variable name and the length of the
// placeholder, or a problem.
func parsePlaceholder(s string) (name string, n int, problem string) {
	body := s[len(placeholderStart):]
	k := 0
	for k < len(body) && isNameByte(body[k]) {
		k++
	}
	if k < len(body) && body[k] == '}' {
		name = body[:k]
		n = len(placeholderStart) + k + 1
		switch {
		case name == "":
			return "", n, placeholderStart + "}: empty variable name"
		case LooksSecretValue(name):
			return "", n, placeholderStart + "***}: the name looks like a credential, not a variable name"
		case name[0] >= '0' && name[0] <= '9':
			return "", n, fmt.Sprintf("%s%s}: invalid variable name %q", placeholderStart, shownName(name), shownName(name))
		}
		return name, n, ""
	}
	end := strings.IndexByte(body, '}')
	if end < 0 {
		return "", len(s), fmt.Sprintf("%s%s is not terminated: missing }", placeholderStart, shownName(body[:k]))
	}
	return "", len(placeholderStart) + end + 1,
		fmt.Sprintf("invalid variable name %q in %s...}: want letters, digits and _", shownName(body[:end]), placeholderStart)
}

// shownName is name as an error shows it: cut to maxShownName bytes, and
// masked if it looks like a credential, since a secret pasted where its
// variable's name belongs must not end up in an error message or a log.
func shownName(name string) string {
	if LooksSecretValue(name) {
		return "***"
	}
	if len(name) > maxShownName {
		return name[:maxShownName] + "..."
	}
	return name
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// HasPlaceholder reports whether s contains a ${env:...} placeholder: an
// "${env:" that is not part of a "$${" escape, whether or not it is well
// formed, since Expand has to see it either way. It reads s as Expand does.
func HasPlaceholder(s string) bool {
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '$')
		if j < 0 {
			return false
		}
		j += i
		switch rest := s[j:]; {
		case strings.HasPrefix(rest, "$${"):
			i = j + len("$${")
		case strings.HasPrefix(rest, placeholderStart):
			return true
		default:
			i = j + 1
		}
	}
	return false
}

// ExpandSpec returns a copy of spec with placeholders expanded in its Env
// values, Args, Headers values and URL, and a Redactor for every value it
// substituted. The argument's maps and slices are never modified. Command
// and WorkingDir are taken as written.
//
// Errors are *mcpproxy.Error values with code EINVALID that name the field,
// `env.TOKEN: ${env:GITHUB_TOKEN} is not set`, `args[2]: …`,
// `headers.Authorization: …`, `url: …`, one per problem in the order env
// (by key), args, headers (by key), url, joined with errors.Join. On error
// the returned spec is the zero value and the Redactor nil.
func ExpandSpec(spec mcpproxy.ServerSpec, lookup func(string) (string, bool)) (mcpproxy.ServerSpec, *Redactor, error) {
	out := spec
	out.Env = maps.Clone(spec.Env)
	out.Args = slices.Clone(spec.Args)
	out.Headers = maps.Clone(spec.Headers)

	var values []string
	var errs []error
	field := func(name, s string) string {
		v, vals, problems := expand(s, lookup)
		for _, p := range problems {
			errs = append(errs, mcpproxy.Errorf(mcpproxy.EINVALID, "%s: %s", name, p))
		}
		values = append(values, vals...)
		return v
	}
	for _, k := range slices.Sorted(maps.Keys(out.Env)) {
		out.Env[k] = field("env."+k, out.Env[k])
	}
	for i := range out.Args {
		out.Args[i] = field(fmt.Sprintf("args[%d]", i), out.Args[i])
	}
	for _, k := range slices.Sorted(maps.Keys(out.Headers)) {
		out.Headers[k] = field("headers."+k, out.Headers[k])
	}
	out.URL = field("url", out.URL)
	if spec.OAuth != nil {
		o := *spec.OAuth
		o.ClientSecret = field("oauth.client_secret", o.ClientSecret)
		if o.ClientSecret != "" {
			// A literal secret is masked too: it is never a placeholder
			// the user chose to show.
			values = append(values, o.ClientSecret)
		}
		out.OAuth = &o
	}

	if len(errs) > 0 {
		return mcpproxy.ServerSpec{}, nil, errors.Join(errs...)
	}
	return out, NewRedactor(values...), nil
}
