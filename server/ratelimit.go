package server

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// rateLimit admits a request if its subject has budget left under the
// settings the request arrived with: one request, and a token budget not
// yet overdrawn. What generation costs in tokens is charged when it ends
// (chargeTokens).
func (s *Server) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		x := exchangeOf(c)
		subject := x.identity.Subject
		ok, wait := x.settings.requests.take(subject, 1)
		what := "requests"
		if ok {
			ok, wait = x.settings.tokens.take(subject, 0)
			what = "tokens"
		}
		if !ok {
			secs := max(1, int(wait.Round(time.Second)/time.Second))
			c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
			return rateLimited("rate limit reached for " + what + " per minute; retry in " + strconv.Itoa(secs) + "s")
		}
		return next(c)
	}
}

// chargeTokens spends n tokens of the caller's budget, in the limiter of
// the settings the request arrived with.
func (x *exchange) chargeTokens(n int) {
	x.settings.tokens.charge(x.identity.Subject, float64(n))
}

// limiter is a token bucket per subject: each subject may spend perMinute
// units a minute, with up to a minute's worth at once. Charges may drive a
// bucket below zero (a long completion is charged when it ends), and then
// the subject waits until it refills.
type limiter struct {
	perMinute float64
	now       func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	level float64
	last  time.Time
}

// idleBucketLimit bounds memory: past this many subjects, full buckets
// (subjects idle for a minute or more) are dropped.
const idleBucketLimit = 10_000

func newLimiter(perMinute int, now func() time.Time) *limiter {
	if perMinute <= 0 {
		return nil
	}
	return &limiter{perMinute: float64(perMinute), now: now, buckets: map[string]*bucket{}}
}

// refill brings key's bucket up to date. l.mu must be held.
func (l *limiter) refill(key string) *bucket {
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= idleBucketLimit {
			l.dropFull(now)
		}
		b = &bucket{level: l.perMinute, last: now}
		l.buckets[key] = b
		return b
	}
	b.level = math.Min(l.perMinute, b.level+now.Sub(b.last).Minutes()*l.perMinute)
	b.last = now
	return b
}

func (l *limiter) dropFull(now time.Time) {
	for k, b := range l.buckets {
		if b.level+now.Sub(b.last).Minutes()*l.perMinute >= l.perMinute {
			delete(l.buckets, k)
		}
	}
}

// take spends cost units (1 for a request; 0 for tokens, whose cost is
// known only at the end) if the bucket holds at least max(cost, 1). When
// it refuses, it says how long until the bucket holds enough.
func (l *limiter) take(key string, cost float64) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	if need := math.Max(cost, 1); b.level < need {
		return false, time.Duration((need - b.level) / l.perMinute * float64(time.Minute))
	}
	b.level -= cost
	return true, 0
}

// charge spends n units after the fact.
func (l *limiter) charge(key string, n float64) {
	if l == nil || n <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refill(key).level -= n
}
