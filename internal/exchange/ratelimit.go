package exchange

import (
	"context"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/dpop"
	"github.com/tokex/tokex/internal/ratelimit"
)

// Limits are the abuse limits of the policy: a token bucket per client and
// one per (client, subject). nil when the policy sets none: the hot path then
// costs one nil check.
//
// On a shared store (a ratelimit.Batcher) an exchange makes one round trip
// for its limits and its DPoP proof's jti together (see pending): after
// subject validation when the client has a limit per subject, else after the
// DPoP proof is checked; an exchange refused before then costs the client no
// token.
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

// pending are an exchange's takes from a shared store not made yet: on a
// shared store (a ratelimit.Batcher) the client bucket, the subject bucket
// and a DPoP proof's jti are taken together, in one round trip.
type pending struct {
	takes []ratelimit.Take
	what  []string // names each take in a refusal: "client", "subject", "dpop"
}

// add appends t; nothing is allocated for an exchange without takes (one
// replica, or no limits and no proof).
func (p *pending) add(t ratelimit.Take, what string) {
	p.takes, p.what = append(p.takes, t), append(p.what, what)
}

// first puts t before the takes added so far: a replayed DPoP proof uses up
// no rate limit token.
func (p *pending) first(t ratelimit.Take, what string) {
	p.takes, p.what = slices.Insert(p.takes, 0, t), slices.Insert(p.what, 0, what)
}

// client takes a token from the client's bucket, or on a shared store adds
// the take to p.
func (x *Limits) client(ctx context.Context, clientID string, p *pending) error {
	cl := x.of(clientID)
	if cl.client.PerSecond <= 0 {
		return nil
	}
	t := ratelimit.Take{Key: "c\x00" + clientID, Limit: cl.client, Group: clientID}
	if x.batch {
		p.add(t, "client")
		return nil
	}
	return x.take(ctx, []ratelimit.Take{t}, "client")
}

// subjectOn reports whether clientID has a limit per subject, whose take
// waits for subject validation.
func (x *Limits) subjectOn(clientID string) bool {
	return x != nil && x.of(clientID).subject.PerSecond > 0
}

// subject takes a token from the bucket of the client's exchanges for one
// subject of one issuer, or on a shared store adds the take to p.
func (x *Limits) subject(ctx context.Context, clientID, issuerName, subject string, p *pending) error {
	cl := x.of(clientID)
	if cl.subject.PerSecond <= 0 {
		return nil
	}
	t := ratelimit.Take{Key: "s\x00" + clientID + "\x00" + issuerName + "\x00" + subject, Limit: cl.subject, Group: clientID}
	if x.batch {
		p.add(t, "subject")
		return nil
	}
	return x.take(ctx, []ratelimit.Take{t}, "subject")
}

// proofTake records a DPoP proof's jti (RFC 9449 §11.1) as a take from a
// bucket of one that refills once per lifetime: GCRA admits it once until
// the proof's replay window has passed, and never lets it through unchecked.
// It shares the client's hash tag, so it can join the client's takes.
func proofTake(clientID string, pf *dpop.Proof, now time.Time) ratelimit.Take {
	ttl := max(pf.ReplayUntil.Sub(now), time.Second)
	return ratelimit.Take{Key: "dpop\x00" + pf.ReplayKey, Limit: ratelimit.Limit{PerSecond: 1 / ttl.Seconds(), Burst: 1},
		Group: clientID, Required: true}
}

// flush makes p's takes in one call to the shared store (or st.Limits'
// batcher); a refused or unanswered proof take is a DPoP refusal.
func (s *Service) flush(ctx context.Context, st *State, p *pending) error {
	if len(p.takes) == 0 {
		return nil
	}
	lim := st.Shared
	if lim == nil {
		lim = st.Limits.limiter.(ratelimit.Batcher)
	}
	takes, what := p.takes, p.what
	p.takes, p.what = p.takes[:0], p.what[:0]
	refused, wait, err := lim.AllowAll(ctx, takes)
	if slices.Contains(what, "dpop") && (err != nil || (refused >= 0 && what[refused] == "dpop")) {
		if err != nil {
			return dpopError(st, dpop.Unavailable(err))
		}
		return dpopError(st, dpop.Replayed())
	}
	return limited(refused, wait, err, what)
}

// take takes one token from each bucket; what names them for the description.
func (x *Limits) take(ctx context.Context, takes []ratelimit.Take, what ...string) error {
	refused, wait, err := ratelimit.AllowAll(ctx, x.limiter, takes)
	return limited(refused, wait, err, what)
}

// limited is the refusal of a take: none when refused < 0 and err is nil.
func limited(refused int, wait time.Duration, err error, what []string) error {
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
