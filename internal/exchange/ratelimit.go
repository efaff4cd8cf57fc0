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
//
// On a shared store (a ratelimit.Batcher) a client with both limits has its
// client bucket taken together with its subject bucket, after subject
// validation, in one round trip; an exchange refused before that step then
// costs the client no token.
type Limits struct {
	limiter  ratelimit.Limiter
	batch    bool // limiter is a ratelimit.Batcher
	defaults clientLimits
	byClient map[string]clientLimits
}

type clientLimits struct{ client, subject ratelimit.Limit }

// NewLimits builds the limits of p on l; nil if p configures none.
func NewLimits(p *config.Policy, l ratelimit.Limiter) *Limits {
	_, batch := l.(ratelimit.Batcher)
	x := &Limits{limiter: l, batch: batch, byClient: map[string]clientLimits{}}
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

// client takes a token from the client's bucket (or leaves it to subject,
// see Limits).
func (x *Limits) client(ctx context.Context, clientID string) error {
	cl := x.of(clientID)
	if cl.client.PerSecond <= 0 || (x.batch && cl.subject.PerSecond > 0) {
		return nil
	}
	return x.take(ctx, []ratelimit.Take{clientTake(clientID, cl.client)}, "client")
}

// subject takes a token from the bucket of the client's exchanges for one
// subject of one issuer.
func (x *Limits) subject(ctx context.Context, clientID, issuerName, subject string) error {
	cl := x.of(clientID)
	if cl.subject.PerSecond <= 0 {
		return nil
	}
	s := ratelimit.Take{Key: "s\x00" + clientID + "\x00" + issuerName + "\x00" + subject, Limit: cl.subject, Group: clientID}
	if x.batch && cl.client.PerSecond > 0 {
		return x.take(ctx, []ratelimit.Take{clientTake(clientID, cl.client), s}, "client", "subject")
	}
	return x.take(ctx, []ratelimit.Take{s}, "subject")
}

func clientTake(clientID string, l ratelimit.Limit) ratelimit.Take {
	return ratelimit.Take{Key: "c\x00" + clientID, Limit: l, Group: clientID}
}

// take takes one token from each bucket; what names them for the description.
func (x *Limits) take(ctx context.Context, takes []ratelimit.Take, what ...string) error {
	refused, wait, err := ratelimit.AllowAll(ctx, x.limiter, takes)
	if err != nil {
		// Only a limiter told to fail closed returns an error (a shared store
		// that cannot answer): refuse for now, never with a 4xx.
		return &Error{Code: api.ErrTemporarilyUnavailable, Reason: "rate_limit_unavailable", Err: err,
			Description: "rate limits cannot be checked right now; try again shortly"}
	}
	if refused < 0 {
		return nil
	}
	secs := max(1, int64(math.Ceil(wait.Seconds())))
	return &Error{Code: api.ErrTemporarilyUnavailable, Reason: "rate_limited", RetryAfter: time.Duration(secs) * time.Second,
		Description: "rate limit exceeded for this " + what[refused] + ": retry after " + strconv.FormatInt(secs, 10) + "s"}
}
