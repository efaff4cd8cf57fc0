package exchange

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/ratelimit"
)

// Limits are the abuse limits of the policy: a token bucket per client and
// one per (client, subject). nil when the policy sets none: the hot path then
// costs one nil check.
type Limits struct {
	limiter  ratelimit.Limiter
	defaults clientLimits
	byClient map[string]clientLimits
}

type clientLimits struct{ client, subject ratelimit.Limit }

// NewLimits builds the limits of p on l; nil if p configures none.
func NewLimits(p *config.Policy, l ratelimit.Limiter) *Limits {
	x := &Limits{limiter: l, byClient: map[string]clientLimits{}}
	x.defaults = merge(clientLimits{}, p.RateLimits)
	on := x.defaults.on()
	for _, c := range p.Clients {
		cl := merge(x.defaults, c.RateLimits)
		x.byClient[c.ID] = cl
		on = on || cl.on()
	}
	if !on {
		return nil
	}
	return x
}

func (c clientLimits) on() bool { return c.client.PerSecond > 0 || c.subject.PerSecond > 0 }

func merge(base clientLimits, rl *config.RateLimits) clientLimits {
	if rl == nil {
		return base
	}
	if rl.Client != nil {
		base.client = ratelimit.Limit{PerSecond: rl.Client.PerSecond, Burst: rl.Client.Burst}
	}
	if rl.Subject != nil {
		base.subject = ratelimit.Limit{PerSecond: rl.Subject.PerSecond, Burst: rl.Subject.Burst}
	}
	return base
}

func (x *Limits) of(clientID string) clientLimits {
	if cl, ok := x.byClient[clientID]; ok {
		return cl
	}
	return x.defaults // unauthenticated callers
}

// client takes a token from the client's bucket.
func (x *Limits) client(ctx context.Context, clientID string) error {
	l := x.of(clientID).client
	if l.PerSecond <= 0 {
		return nil
	}
	return x.take(ctx, "c\x00"+clientID, l, "client")
}

// subject takes a token from the bucket of the client's exchanges for one
// subject of one issuer.
func (x *Limits) subject(ctx context.Context, clientID, issuerName, subject string) error {
	l := x.of(clientID).subject
	if l.PerSecond <= 0 {
		return nil
	}
	return x.take(ctx, "s\x00"+clientID+"\x00"+issuerName+"\x00"+subject, l, "subject")
}

func (x *Limits) take(ctx context.Context, key string, l ratelimit.Limit, what string) error {
	ok, wait, err := x.limiter.Allow(ctx, key, l)
	if err != nil {
		// A limiter that cannot answer must not stop exchanges: limits are a
		// brake, not an authorization check.
		return nil
	}
	if ok {
		return nil
	}
	secs := max(1, int64(math.Ceil(wait.Seconds())))
	return &Error{Code: api.ErrTemporarilyUnavailable, Reason: "rate_limited", RetryAfter: time.Duration(secs) * time.Second,
		Description: "rate limit exceeded for this " + what + ": retry after " + strconv.FormatInt(secs, 10) + "s"}
}
