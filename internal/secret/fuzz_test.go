package secret

import (
	"slices"
	"strings"
	"testing"
)

// FuzzExpand checks Expand against its promises with a lookup that knows
// every name: no panic, the same answer twice, every placeholder replaced
// (no "${env:" left but those the escape produced), and text without
// placeholders only unescaped.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{
		"", "plain", "${env:A}", "x${env:A}y${env:B_2}z", "${env:A}${env:A}", "$${env:A}", "$$${env:A}",
		"$$$${env:A}", "${env:", "${env:}", "${env:1}", "${env:A B}", "${env:${env:A}}", "${HOME}", "$", "$$",
		"${", "$${", "${env:A", "é${env:Ü}", "${env:ghp_0123456789abcdefghijABCDEFGHIJ012345}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		calls := 0
		lookup := func(string) (string, bool) { calls++; return "V", true }
		out, values, err := Expand(s, lookup)
		out2, values2, err2 := Expand(s, lookup)
		if out != out2 || !slices.Equal(values, values2) || (err == nil) != (err2 == nil) ||
			err != nil && err.Error() != err2.Error() {
			t.Fatalf("Expand(%q) not deterministic", s)
		}
		if err != nil {
			if out != "" || values != nil {
				t.Fatalf("Expand(%q) = %q, %q with error %v", s, out, values, err)
			}
			if !HasPlaceholder(s) {
				t.Fatalf("Expand(%q) failed without a placeholder: %v", s, err)
			}
			return
		}
		if n, escaped := strings.Count(out, "${env:"), strings.Count(s, "$${env:"); n > escaped {
			t.Fatalf("Expand(%q) = %q: %d placeholders left, %d escaped", s, out, n, escaped)
		}
		for _, v := range values {
			if v != "V" {
				t.Fatalf("Expand(%q) values %q", s, values)
			}
		}
		if !HasPlaceholder(s) {
			if want := strings.ReplaceAll(s, "$${", "${"); out != want || calls != 0 || values != nil {
				t.Fatalf("Expand(%q) = %q, %q after %d lookups; want %q", s, out, values, calls, want)
			}
		} else if calls == 0 {
			t.Fatalf("Expand(%q) looked nothing up", s)
		}
	})
}

// FuzzRedact checks that a secret (of MinRedactLen bytes or more) never
// survives Redact, that text without it is left alone, and that redacting
// twice changes nothing more.
func FuzzRedact(f *testing.F) {
	f.Add("hunter22", "password hunter22 in a log line")
	f.Add("p@ss w/rd+1", "?pw=p%40ss+w%2Frd%2B1 /p@ss%20w%2Frd+1")
	f.Add("abab", "abababab")
	f.Add("a***", "aa***")
	f.Add("****", "********")
	f.Add(`a"b\c<d>`, `{"pw":"a\"b\\c\u003cd\u003e"}`)
	f.Add("abc", "abc")
	f.Add("pässwörd", "p%C3%A4ssw%C3%B6rd")
	f.Fuzz(func(t *testing.T, secret, s string) {
		r := NewRedactor(secret)
		out := r.Redact(s)
		if len(secret) >= MinRedactLen && strings.Contains(out, secret) {
			t.Fatalf("Redact(%q) with secret %q = %q", s, secret, out)
		}
		if again := r.Redact(out); again != out {
			t.Fatalf("Redact not idempotent: %q then %q", out, again)
		}
		found := false
		for _, n := range r.needles {
			found = found || strings.Contains(s, n)
		}
		if !found && out != s {
			t.Fatalf("Redact(%q) with secret %q changed text without it: %q", s, secret, out)
		}
	})
}

// FuzzLooks checks that the heuristics never panic on any input.
func FuzzLooks(f *testing.F) {
	for _, s := range []string{"githubToken", "X-Api-Key", "Bearer ghp_x", "eyJa.b.c", "-----BEGIN ", "AKIA", "Basic ", "sk-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		LooksSecretKey(s)
		LooksSecretValue(s)
	})
}

// FuzzFind checks Find's promises on any input: spans in order, within the
// text, not overlapping and not empty, each of a known kind; and that
// replacing them with labels leaves none of their text behind.
func FuzzFind(f *testing.F) {
	for _, s := range []string{
		"AKIAIOSFODNN7EXAMPLE", "Bearer abc", "postgres://u:p@h", "4111 1111 1111 1111", "API_KEY=Zx9fQ2mLp8Rt4vWk7Hs",
		`{\"password\":\"q7W!x2Lp9#Zm4Rt8\"}`, "-----BEGIN RSA PRIVATE KEY-----\nx", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
		"sk-proj-abcdefghijklmnopqrstuv", "::=//@", "a://b:c@", "x=", "\"k\":",
	} {
		f.Add(s)
	}
	known := []Kind{KindAWSAccessKey, KindPrivateKey, KindGitHubToken, KindSlackToken, KindStripeKey, KindAPIKey,
		KindJWT, KindAuthHeader, KindURLPassword, KindCardNumber, KindSecretValue}
	f.Fuzz(func(t *testing.T, s string) {
		spans := Find(s)
		end := 0
		for _, sp := range spans {
			if sp.Start < end || sp.End <= sp.Start || sp.End > len(s) || !slices.Contains(known, sp.Kind) {
				t.Fatalf("Find(%q) = %v: bad span %v", s, spans, sp)
			}
			end = sp.End
		}
		out := Replace(s, spans, Label)
		if len(spans) > 0 && out == s {
			t.Fatalf("Replace(%q) changed nothing", s)
		}
	})
}
