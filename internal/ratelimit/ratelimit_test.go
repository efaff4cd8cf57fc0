package ratelimit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tokex/tokex/internal/ratelimit"
	"github.com/tokex/tokex/internal/testclock"
)

func TestMemory(t *testing.T) {
	type call struct {
		advance time.Duration
		key     string
		ok      bool
		retry   time.Duration // expected Retry-After when refused
	}
	tests := []struct {
		name  string
		limit ratelimit.Limit
		calls []call
	}{
		{name: "burst then refused with the time to the next token", limit: ratelimit.Limit{PerSecond: 2, Burst: 2}, calls: []call{
			{key: "a", ok: true}, {key: "a", ok: true},
			{key: "a", ok: false, retry: 500 * time.Millisecond},
			{advance: 250 * time.Millisecond, key: "a", ok: false, retry: 250 * time.Millisecond},
			{advance: 250 * time.Millisecond, key: "a", ok: true},
		}},
		{name: "keys have their own buckets", limit: ratelimit.Limit{PerSecond: 1, Burst: 1}, calls: []call{
			{key: "a", ok: true}, {key: "b", ok: true},
			{key: "a", ok: false, retry: time.Second}, {key: "b", ok: false, retry: time.Second},
		}},
		{name: "refill never exceeds the burst", limit: ratelimit.Limit{PerSecond: 10, Burst: 1}, calls: []call{
			{key: "a", ok: true},
			{advance: time.Hour, key: "a", ok: true},
			{key: "a", ok: false, retry: 100 * time.Millisecond},
		}},
		{name: "burst 0 defaults to the rate", limit: ratelimit.Limit{PerSecond: 2}, calls: []call{
			{key: "a", ok: true}, {key: "a", ok: true}, {key: "a", ok: false, retry: 500 * time.Millisecond},
		}},
		{name: "rate 0 is no limit", limit: ratelimit.Limit{}, calls: []call{
			{key: "a", ok: true}, {key: "a", ok: true}, {key: "a", ok: true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testclock.New(time.Unix(1_700_000_000, 0))
			m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: c.Now})
			for i, cl := range tc.calls {
				c.Add(cl.advance)
				ok, retry, err := m.Allow(context.Background(), cl.key, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if ok != cl.ok {
					t.Fatalf("call %d: ok = %v, want %v", i, ok, cl.ok)
				}
				if !ok && (retry < cl.retry-time.Millisecond || retry > cl.retry+time.Millisecond) {
					t.Errorf("call %d: retry after %s, want %s", i, retry, cl.retry)
				}
			}
		})
	}
}

// TestMemoryBounded: the number of buckets stays within the capacity however
// many keys are seen.
func TestMemoryBounded(t *testing.T) {
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Capacity: 160})
	for i := range 10_000 {
		if _, _, err := m.Allow(context.Background(), fmt.Sprint("k", i), ratelimit.Limit{PerSecond: 1, Burst: 5}); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.Len(); n > 160 {
		t.Errorf("%d buckets held, capacity 160", n)
	}
}

func BenchmarkLimiter(b *testing.B) {
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	l := ratelimit.Limit{PerSecond: 1e9, Burst: 1e9}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _, _ = m.Allow(ctx, "orders", l)
		}
	})
}
