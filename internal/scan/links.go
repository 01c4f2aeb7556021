package scan

import (
	"net"
	"strings"
)

// links reports http and https links to hosts other than the server's own.
// It reads the normalized text, so hosts are already lower case and an
// invisible character inside a host does not hide it.
func (sc *scanner) links(t *prepared) {
	norm := t.norm
	for i := 0; i < len(norm); {
		k := strings.Index(norm[i:], "http")
		if k < 0 {
			return
		}
		k += i
		rest := norm[k+4:]
		var start int
		switch {
		case strings.HasPrefix(rest, "://"):
			start = k + len("http://")
		case strings.HasPrefix(rest, "s://"):
			start = k + len("https://")
		default:
			i = k + 4
			continue
		}
		end := start
		for end < len(norm) && authorityByte(norm[end]) {
			end++
		}
		i = end
		host := authorityHost(norm[start:end])
		if host == "" || sc.expectedHost(host) {
			continue
		}
		sc.add(kExternalURL, excerpt(host))
	}
}

// authorityByte reports whether c can be part of a URL's authority as it
// appears in prose. Braces and '$' are kept so that a template such as
// https://{region}.example.com is seen whole and skipped, not cut short.
func authorityByte(c byte) bool {
	switch c {
	case '/', '?', '#', '\\', '"', '\'', '`', '<', '>', '(', ')', '|', '^', ',', ';', '*', '!':
		return false
	}
	return c > ' ' && c != 0x7f
}

// authorityHost returns the host of a URL authority, or "" if it is empty
// or a template.
func authorityHost(a string) string {
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		a = a[i+1:]
	}
	if strings.HasPrefix(a, "[") {
		if i := strings.IndexByte(a, ']'); i >= 0 {
			return a[1:i]
		}
		return ""
	}
	if i := strings.IndexByte(a, ':'); i >= 0 {
		a = a[:i]
	}
	a = strings.TrimRight(a, ".")
	if a == "" || strings.ContainsAny(a, "{}$[]") {
		return ""
	}
	return a
}

// expectedHost reports whether a link to host is unremarkable: the
// server's own host or a host of its parent domain, the local machine, the
// JSON Schema vocabulary, or a documentation placeholder.
func (sc *scanner) expectedHost(host string) bool {
	switch host {
	case "localhost", "::1", "0.0.0.0",
		"example.com", "example.org", "example.net",
		"www.example.com", "www.example.org", "www.example.net",
		"json-schema.org":
		return true
	}
	if strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".json-schema.org") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	if sc.host == "" {
		return false
	}
	if host == sc.host || strings.HasSuffix(host, "."+sc.host) {
		return true
	}
	base := parentDomain(sc.host)
	return host == base || strings.HasSuffix(host, "."+base)
}

// parentDomain returns host without its first label when that leaves a
// registrable-looking domain (api.github.com → github.com), else host
// itself. Without the public suffix list it guesses: a two-label rest whose
// first label is a common second-level name under a country code (co.uk,
// com.au) is a suffix, not a domain.
func parentDomain(host string) string {
	if net.ParseIP(host) != nil {
		return host
	}
	i := strings.IndexByte(host, '.')
	if i < 0 {
		return host
	}
	rest := host[i+1:]
	dot := strings.IndexByte(rest, '.')
	if dot < 0 {
		return host // host is already a two-label domain
	}
	if strings.IndexByte(rest[dot+1:], '.') < 0 && len(rest)-dot-1 == 2 {
		switch rest[:dot] {
		case "co", "com", "net", "org", "gov", "ac", "edu", "or", "ne", "go":
			return host
		}
	}
	return rest
}
