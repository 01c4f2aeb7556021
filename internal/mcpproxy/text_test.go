package mcpproxy

import "testing"

func TestCutBytes(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 3, "abc"},
		{"abc", 2, "ab"},
		{"aé", 2, "a"}, // é is two bytes: not cut in half
		{"aéb", 3, "aé"},
		{"é", 1, ""},
		{"a𝄞", 4, "a"}, // four bytes
		{"abc", 0, ""},
	} {
		if got := CutBytes(c.s, c.n); got != c.want {
			t.Errorf("CutBytes(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}
