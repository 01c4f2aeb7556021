package upstream

import (
	"math/rand/v2"
	"time"
)

// Backoff is an exponential backoff with jitter.
type Backoff struct {
	Base time.Duration // first delay, default 1s
	Max  time.Duration // cap, default 5m
	// Jitter is the fraction of the delay that is randomised, 0..1. Default 0.2:
	// a delay d becomes a value in [0.8d, 1.2d] (still capped at Max).
	Jitter float64
}

// defaultBackoff is 1 s doubling to a 5 min cap with ±20 % jitter.
var defaultBackoff = Backoff{Base: time.Second, Max: 5 * time.Minute, Jitter: 0.2}

// Delay returns the wait before retry number attempt (1-based). r returns a
// float in [0,1); nil uses math/rand.
func (b Backoff) Delay(attempt int, r func() float64) time.Duration {
	if b.Base <= 0 {
		b.Base = time.Second
	}
	if b.Max <= 0 {
		b.Max = 5 * time.Minute
	}
	if attempt < 1 {
		attempt = 1
	}
	d := b.Base
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if b.Jitter > 0 {
		if r == nil {
			r = rand.Float64
		}
		f := 1 + b.Jitter*(2*r()-1)
		d = time.Duration(float64(d) * f)
	}
	return min(d, b.Max)
}
