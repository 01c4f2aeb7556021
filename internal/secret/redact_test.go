package secret

import (
	"strings"
	"sync"
	"testing"
)

func TestRedactor_Redact(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"Plain", []string{"hunter22"}, "password is hunter22.", "password is ***."},
		{"Every", []string{"hunter22"}, "hunter22 hunter22hunter22", "*** ***"},
		{"Several", []string{"alpha-1", "beta-22"}, "a=alpha-1&b=beta-22", "a=***&b=***"},
		{"TooShort", []string{"abc", "xy", ""}, "abc xy", "abc xy"},
		{"ShortIgnoredLongKept", []string{"abc", "abcdef"}, "abc abcdef", "abc ***"},
		{"QueryEscaped", []string{"p@ss w/rd+1"}, "?pw=p%40ss+w%2Frd%2B1&x=1", "?pw=***&x=1"},
		{"PathEscaped", []string{"p@ss w/rd+1"}, "/login/p@ss%20w%2Frd+1/x", "/login/***/x"},
		{"JSONEscaped", []string{`a"b\c<d>`}, `{"pw":"a\"b\\c\u003cd\u003e"}`, `{"pw":"***"}`},
		{"JSONEscapedNoHTML", []string{`a"b\c<d>`}, `{"pw":"a\"b\\c<d>"}`, `{"pw":"***"}`},
		{"Overlapping", []string{"abcdef", "defghi"}, "xxabcdefghixx", "xx***xx"},
		{"Contained", []string{"secret", "my-secret-value"}, "my-secret-value and secret", "*** and ***"},
		{"SelfOverlapping", []string{"abab"}, "ababab", "***"},
		{"Touching", []string{"abcd", "efgh"}, "abcdefgh", "***"},
		{"NoMatch", []string{"hunter22"}, "nothing to see", "nothing to see"},
		{"ContainsMask", []string{"a***"}, "aa***", "***"},
		{"AllMask", []string{"****"}, "********", "***"},
		{"Unicode", []string{"pässwörd"}, "pw=pässwörd; q=p%C3%A4ssw%C3%B6rd", "pw=***; q=***"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRedactor(tt.secrets...)
			if got := r.Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactor_Nil(t *testing.T) {
	var r *Redactor
	if got := r.Redact("hunter22"); got != "hunter22" {
		t.Errorf("nil Redact = %q", got)
	}
	if !r.Empty() {
		t.Error("nil not Empty")
	}
	if !NewRedactor().Empty() || !NewRedactor("abc").Empty() {
		t.Error("redactor of nothing (or only short values) not Empty")
	}
	if NewRedactor("abcd").Empty() {
		t.Error("redactor of a value is Empty")
	}
}

func TestRedactor_Merge(t *testing.T) {
	a, b := NewRedactor("alpha-1"), NewRedactor("beta-22", "alpha-1")
	var none *Redactor
	tests := []struct {
		name string
		r    *Redactor
		want string
	}{
		{"Both", a.Merge(b), "*** *** gamma-3"},
		{"NilLeft", none.Merge(b), "*** *** gamma-3"},
		{"NilRight", a.Merge(nil), "*** beta-22 gamma-3"},
		{"EmptyRight", a.Merge(NewRedactor()), "*** beta-22 gamma-3"},
	}
	for _, tt := range tests {
		if got := tt.r.Redact("alpha-1 beta-22 gamma-3"); got != tt.want {
			t.Errorf("%s: Redact = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := none.Merge(nil); got != nil {
		t.Errorf("nil.Merge(nil) = %v", got)
	}
	// Merging leaves both sides as they were.
	if got := a.Redact("beta-22"); got != "beta-22" {
		t.Errorf("a changed by Merge: %q", got)
	}
}

func TestRedactor_NoAllocWithoutMatch(t *testing.T) {
	r := NewRedactor("hunter22", "correct horse battery staple")
	s := strings.Repeat("an ordinary log line ", 20)
	var none *Redactor
	empty := NewRedactor()
	allocs := testing.AllocsPerRun(100, func() {
		if r.Redact(s) != s || none.Redact(s) != s || empty.Redact(s) != s {
			t.Fatal("changed")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}

func TestRedactor_Concurrent(t *testing.T) {
	r := NewRedactor("hunter22", "s3cr3t-value")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if got := r.Redact("a hunter22 b s3cr3t-value"); got != "a *** b ***" {
					t.Errorf("Redact = %q", got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkRedact(b *testing.B) {
	r := NewRedactor("ghp_0123456789abcdefghijABCDEFGHIJ012345", "hunter22", "s3cr3t-value")
	line := strings.Repeat("GET /api/v1/servers?limit=10 200 1.2ms ", 8)
	b.Run("NoMatch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Redact(line)
		}
	})
	b.Run("Match", func(b *testing.B) {
		s := line + "token=ghp_0123456789abcdefghijABCDEFGHIJ012345"
		b.ReportAllocs()
		for b.Loop() {
			r.Redact(s)
		}
	})
}
