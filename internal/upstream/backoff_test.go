package upstream

import (
	"testing"
	"time"
)

func TestBackoff_Delay(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 5 * time.Minute}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300}
	for i, w := range want {
		if got := b.Delay(i+1, nil); got != w*time.Second {
			t.Errorf("attempt %d: %v, want %v", i+1, got, w*time.Second)
		}
	}
	if got := b.Delay(1000, nil); got != 5*time.Minute {
		t.Errorf("attempt 1000: %v, want cap", got)
	}
}

func TestBackoff_Jitter(t *testing.T) {
	b := defaultBackoff
	for _, tc := range []struct {
		r    float64
		want time.Duration
	}{
		{0, 3200 * time.Millisecond},    // 4s * 0.8
		{0.5, 4 * time.Second},          // centre
		{0.75, 4400 * time.Millisecond}, // 4s * 1.1
	} {
		got := b.Delay(3, func() float64 { return tc.r }).Round(time.Microsecond)
		if got != tc.want {
			t.Errorf("r=%v: %v, want %v", tc.r, got, tc.want)
		}
	}
	if got := b.Delay(20, func() float64 { return 0.999 }); got > 5*time.Minute {
		t.Errorf("jitter exceeded the cap: %v", got)
	}
}

func TestLogBuffer_Tail(t *testing.T) {
	b := NewLogBuffer("", 3)
	if got := b.Tail(10); len(got) != 0 {
		t.Fatalf("empty buffer tail = %v", got)
	}
	for _, l := range []string{"1", "2", "3", "4", "5"} {
		b.Append(l)
	}
	if got := b.Tail(0); len(got) != 3 || got[0] != "3" || got[2] != "5" {
		t.Fatalf("tail = %v, want [3 4 5]", got)
	}
	if got := b.Tail(2); len(got) != 2 || got[0] != "4" {
		t.Fatalf("tail 2 = %v, want [4 5]", got)
	}
	if b.Last() != "5" {
		t.Fatalf("last = %q", b.Last())
	}
	b.Close()
}
