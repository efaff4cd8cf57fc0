package exchange_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/client"
	"github.com/tokex/tokex/internal/dpop"
	"github.com/tokex/tokex/internal/exchange"
	"github.com/tokex/tokex/internal/mint"
	"github.com/tokex/tokex/internal/ratelimit"
	"github.com/tokex/tokex/internal/redistest"
	"github.com/tokex/tokex/internal/testidp"
)

// batcher is a shared-store limiter: it records each call's keys and answers
// with err, or refuses the take at index refuse.
type batcher struct {
	mu     sync.Mutex
	calls  [][]string
	refuse int
	err    error
}

func (b *batcher) Allow(ctx context.Context, key string, l ratelimit.Limit) (bool, time.Duration, error) {
	i, w, err := b.AllowAll(ctx, []ratelimit.Take{{Key: key, Limit: l}})
	return i < 0, w, err
}

func (b *batcher) AllowAll(_ context.Context, takes []ratelimit.Take) (int, time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var keys []string
	for _, t := range takes {
		keys = append(keys, t.Key)
	}
	b.calls = append(b.calls, keys)
	if b.err != nil {
		return 0, 0, b.err
	}
	if b.refuse < len(takes) {
		return b.refuse, 1500 * time.Millisecond, nil
	}
	return -1, 0, nil
}

// Policies with both limits, and with a client limit only.
const (
	both = delegationPolicy + `rate_limits:
  client: {per_second: 1, burst: 2}
  subject: {per_second: 1, burst: 2}
`
	clientOnly = delegationPolicy + `rate_limits:
  client: {per_second: 1, burst: 2}
`
)

// TestRateLimitsSharedStore: on a shared store the client and subject buckets
// are taken in one call; the refused one is named; a store that fails closed
// refuses with temporarily_unavailable and no Retry-After of a rate limit.
func TestRateLimitsSharedStore(t *testing.T) {
	ver := tokenVerifier{"subject": who("corp", "https://idp.example.com", "alice", nil)}
	form := api.TokenRequest{GrantType: api.GrantTypeTokenExchange, SubjectToken: "subject", SubjectTokenType: api.TokenTypeAccessToken, Audience: "https://forbidden.example.com"}
	tests := []struct {
		name       string
		doc        string
		b          *batcher
		wantCalls  [][]string
		wantReason string
		wantDesc   string
		wantRetry  time.Duration
	}{
		{name: "both limits: one call with both keys", doc: both, b: &batcher{refuse: 9},
			wantCalls: [][]string{{"c\x00orders", "s\x00orders\x00corp\x00alice"}}},
		{name: "client limit only: one call before subject validation", doc: clientOnly, b: &batcher{refuse: 9},
			wantCalls: [][]string{{"c\x00orders"}}},
		{name: "subject bucket empty", doc: both, b: &batcher{refuse: 1},
			wantCalls: [][]string{{"c\x00orders", "s\x00orders\x00corp\x00alice"}}, wantReason: "rate_limited", wantDesc: "rate limit exceeded for this subject: retry after 2s", wantRetry: 2 * time.Second},
		{name: "client bucket empty", doc: both, b: &batcher{refuse: 0},
			wantCalls: [][]string{{"c\x00orders", "s\x00orders\x00corp\x00alice"}}, wantReason: "rate_limited", wantDesc: "rate limit exceeded for this client: retry after 2s", wantRetry: 2 * time.Second},
		{name: "store down, fail closed", doc: both, b: &batcher{err: errors.New("dial tcp: connection refused")},
			wantCalls: [][]string{{"c\x00orders", "s\x00orders\x00corp\x00alice"}}, wantReason: "rate_limit_unavailable", wantDesc: "rate limits cannot be checked right now; try again shortly"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc, _ := newDelegationService(t, tc.doc, ver, func(func() time.Time) ratelimit.Limiter { return tc.b })
			_, err := svc.Exchange(context.Background(), exchange.Request{Form: form, Credentials: basic})
			if len(tc.b.calls) != len(tc.wantCalls) {
				t.Fatalf("calls = %q, want %q", tc.b.calls, tc.wantCalls)
			}
			for i := range tc.wantCalls {
				if len(tc.b.calls[i]) != len(tc.wantCalls[i]) || tc.b.calls[i][0] != tc.wantCalls[i][0] {
					t.Errorf("call %d = %q, want %q", i, tc.b.calls[i], tc.wantCalls[i])
				}
			}
			if tc.wantReason == "" {
				if err != nil {
					t.Fatalf("exchange: %v", err)
				}
				return
			}
			var xe *exchange.Error
			if !errors.As(err, &xe) || xe.Code != api.ErrTemporarilyUnavailable || xe.Reason != tc.wantReason || xe.Description != tc.wantDesc || xe.RetryAfter != tc.wantRetry {
				t.Fatalf("exchange = %#v, want temporarily_unavailable %s %q retry %s", err, tc.wantReason, tc.wantDesc, tc.wantRetry)
			}
		})
	}
}

// BenchmarkExchangeRateLimited is one exchange (fake subject validation, real
// ES256 minting) with client and subject limits on, the buckets in memory and
// in a local redis-server (one script call), measured in one run.
func BenchmarkExchangeRateLimited(b *testing.B) {
	doc := delegationPolicy + `rate_limits:
  client: {per_second: 1000000000, burst: 1000000000}
  subject: {per_second: 1000000000, burst: 1000000000}
`
	ver := tokenVerifier{"subject": who("corp", "https://idp.example.com", "alice", nil)}
	form := api.TokenRequest{GrantType: api.GrantTypeTokenExchange, SubjectToken: "subject", SubjectTokenType: api.TokenTypeAccessToken, Audience: "https://forbidden.example.com"}
	run := func(b *testing.B, lim func(func() time.Time) ratelimit.Limiter) {
		svc, _ := newDelegationService(b, doc, ver, lim)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := svc.Exchange(context.Background(), exchange.Request{Form: form, Credentials: basic}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("memory", func(b *testing.B) { run(b, memory) })
	b.Run("redis", func(b *testing.B) {
		st := redistest.Start(b).Store(b)
		run(b, func(func() time.Time) ratelimit.Limiter { return ratelimit.NewRedis(ratelimit.RedisOptions{Store: st}) })
	})
}

// TestDPoPSharedStore: on a shared store a DPoP proof's jti is one more take,
// first, in the exchange's one call for its limits (at most one round trip);
// a replayed or unanswered proof take is a DPoP refusal, fail closed.
func TestDPoPSharedStore(t *testing.T) {
	key := testidp.NewDPoPKey(t, false)
	ver := tokenVerifier{"subject": who("corp", "https://idp.example.com", "alice", nil)}
	form := api.TokenRequest{GrantType: api.GrantTypeTokenExchange, SubjectToken: "subject", SubjectTokenType: api.TokenTypeAccessToken, Audience: "https://forbidden.example.com"}
	const dpopKey = "dpop\x00"
	tests := []struct {
		name       string
		doc        string
		proof      bool
		b          *batcher
		wantCalls  [][]string // keys of each call; a proof's key is written dpopKey
		wantCode   api.ErrorCode
		wantReason string
	}{
		{name: "both limits: one call, the proof first", doc: both, proof: true, b: &batcher{refuse: 9},
			wantCalls: [][]string{{dpopKey, "c\x00orders", "s\x00orders\x00corp\x00alice"}}},
		{name: "client limit only: one call", doc: clientOnly, proof: true, b: &batcher{refuse: 9},
			wantCalls: [][]string{{dpopKey, "c\x00orders"}}},
		{name: "no limits: the proof alone", doc: delegationPolicy, proof: true, b: &batcher{refuse: 9},
			wantCalls: [][]string{{dpopKey}}},
		{name: "no proof, no limits: no call", doc: delegationPolicy, b: &batcher{refuse: 9}},
		{name: "replayed proof", doc: both, proof: true, b: &batcher{refuse: 0},
			wantCalls: [][]string{{dpopKey, "c\x00orders", "s\x00orders\x00corp\x00alice"}}, wantCode: api.ErrInvalidDPoPProof, wantReason: "dpop_replay"},
		{name: "client bucket empty", doc: both, proof: true, b: &batcher{refuse: 1},
			wantCalls: [][]string{{dpopKey, "c\x00orders", "s\x00orders\x00corp\x00alice"}}, wantCode: api.ErrTemporarilyUnavailable, wantReason: "rate_limited"},
		{name: "store down: fail closed", doc: delegationPolicy, proof: true, b: &batcher{err: errors.New("dial tcp: connection refused")},
			wantCalls: [][]string{{dpopKey}}, wantCode: api.ErrTemporarilyUnavailable, wantReason: "dpop_unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sum := sha256.Sum256([]byte(secret))
			p, compiled := compile(t, []byte(fmt.Sprintf(tc.doc, hex.EncodeToString(sum[:]))), "")
			_, set := signingKeys(t)
			clock := func() time.Time { return now }
			st := &exchange.State{Policy: compiled, Clients: client.NewRegistry(p.Clients, client.Options{Issuer: p.Issuer}), Issuers: ver,
				Limits: exchange.NewLimits(p, tc.b), Shared: tc.b,
				DPoP: dpop.NewVerifier(dpop.Options{Replay: failingReplay{}, Now: clock})}
			svc := exchange.New(exchange.Options{State: st, Minter: mint.New(p.Issuer, set, clock), Now: clock, TokenEndpoint: tokenEndpoint})
			req := exchange.Request{Form: form, Credentials: basic}
			if tc.proof {
				req.DPoP = []string{key.Proof(t, "POST", tokenEndpoint, now, nil, nil)}
			}
			resp, err := svc.Exchange(context.Background(), req)
			if len(tc.b.calls) != len(tc.wantCalls) {
				t.Fatalf("calls = %q, want %q", tc.b.calls, tc.wantCalls)
			}
			for i, want := range tc.wantCalls {
				got := tc.b.calls[i]
				if len(got) != len(want) {
					t.Fatalf("call %d = %q, want %q", i, got, want)
				}
				for j := range want {
					if want[j] == dpopKey && strings.HasPrefix(got[j], dpopKey) && !strings.Contains(got[j], key.JKT()) {
						continue // a hash of the key and jti, never the proof
					}
					if got[j] != want[j] {
						t.Errorf("call %d take %d = %q, want %q", i, j, got[j], want[j])
					}
				}
			}
			if tc.wantCode == "" {
				if err != nil || (tc.proof && resp.TokenType != api.TokenTypeDPoP) {
					t.Fatalf("exchange = %v, %v", resp, err)
				}
				return
			}
			var xe *exchange.Error
			if !errors.As(err, &xe) || xe.Code != tc.wantCode || xe.Reason != tc.wantReason {
				t.Fatalf("exchange = %#v, want %s %s", err, tc.wantCode, tc.wantReason)
			}
		})
	}
}

// failingReplay is the verifier's own replay cache, which a shared store's
// exchange must not use.
type failingReplay struct{}

func (failingReplay) Use(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("the replay cache was used although the proof take was deferred")
}
