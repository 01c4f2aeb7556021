package scan

import "testing"

func TestKeywordSet(t *testing.T) {
	var k keywordSet
	user := k.mask("user")
	tag := k.mask("<")
	token := k.midWordMask("token")
	tests := []struct {
		in   string
		want uint64
	}{
		{"", 0},
		{"the user", user},
		{"users", user},
		{"username", user},
		{"a superuser", 0}, // "user" starts no word here
		{"my_user", user},  // '_' separates words
		{"x<y", tag},
		{"accesstoken", token},
		{"token and user", token | user},
		{"<tokenuser", tag | token},
	}
	for _, tt := range tests {
		if got := k.find(tt.in); got != tt.want {
			t.Errorf("find(%q) = %b, want %b", tt.in, got, tt.want)
		}
	}
	if again := k.mask("user"); again != user {
		t.Errorf("registering a keyword twice gave a new bit")
	}
}
