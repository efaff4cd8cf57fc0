package exchange_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/exchange"
	"github.com/tokex/tokex/internal/ratelimit"
	"github.com/tokex/tokex/internal/redistest"
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

// TestRateLimitsSharedStore: on a shared store the client and subject buckets
// are taken in one call; the refused one is named; a store that fails closed
// refuses with temporarily_unavailable and no Retry-After of a rate limit.
func TestRateLimitsSharedStore(t *testing.T) {
	both := delegationPolicy + `rate_limits:
  client: {per_second: 1, burst: 2}
  subject: {per_second: 1, burst: 2}
`
	clientOnly := delegationPolicy + `rate_limits:
  client: {per_second: 1, burst: 2}
`
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
