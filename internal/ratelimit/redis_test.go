package ratelimit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokex/tokex/internal/ratelimit"
	"github.com/tokex/tokex/internal/redistest"
	"github.com/tokex/tokex/internal/testclock"
)

// TestRedisAgreesWithMemory runs the cases of TestMemory on both limiters
// with one clock: same answers, same Retry-After.
func TestRedisAgreesWithMemory(t *testing.T) {
	srv := redistest.Start(t)
	st := srv.Store(t)
	limits := []ratelimit.Limit{{PerSecond: 2, Burst: 2}, {PerSecond: 1, Burst: 1}, {PerSecond: 10, Burst: 1}, {PerSecond: 2}, {}, {PerSecond: 0.2, Burst: 3}}
	for li, l := range limits {
		t.Run(fmt.Sprintf("%+v", l), func(t *testing.T) {
			c := testclock.New(time.Unix(1_700_000_000, 0))
			mem := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: c.Now})
			red := ratelimit.NewRedis(ratelimit.RedisOptions{Store: st, Now: c.Now})
			for i, adv := range []time.Duration{0, 0, 0, 250 * time.Millisecond, 250 * time.Millisecond, 0, time.Hour, 0, 0, 3 * time.Second, 0} {
				c.Add(adv)
				key := fmt.Sprint("case", li, "-", i%2)
				mok, mwait, _ := mem.Allow(context.Background(), key, l)
				rok, rwait, err := red.Allow(context.Background(), key, l)
				if err != nil {
					t.Fatal(err)
				}
				if mok != rok || (!mok && (rwait-mwait > time.Millisecond || mwait-rwait > time.Millisecond)) {
					t.Fatalf("call %d: memory (%v, %s), redis (%v, %s)", i, mok, mwait, rok, rwait)
				}
			}
		})
	}
}

// model is a reference GCRA in integer microseconds (see gcraScript).
type model struct{ tat map[string]int64 }

func (m *model) allowAll(now int64, takes []ratelimit.Take) (int, int64) {
	for i, t := range takes {
		if t.Limit.PerSecond <= 0 {
			continue
		}
		interval := int64(1e6 / t.Limit.PerSecond)
		b := int64(t.Limit.Burst)
		if b < 1 {
			b = max(1, int64(t.Limit.PerSecond+0.999999))
		}
		tat := max(m.tat[t.Key], now)
		next := tat + interval
		if over := next - now - b*interval; over > 0 {
			return i, over
		}
		m.tat[t.Key] = next
	}
	return -1, 0
}

// TestRedisModel is a property test: random sequences of batched takes on
// random keys, limits and clock steps give the same refusals and waits from
// the Redis script as from the reference model.
func TestRedisModel(t *testing.T) {
	srv := redistest.Start(t)
	st := srv.Store(t)
	limits := []ratelimit.Limit{{PerSecond: 1, Burst: 1}, {PerSecond: 4, Burst: 3}, {PerSecond: 20, Burst: 5}, {PerSecond: 10}, {PerSecond: 0.5, Burst: 2}, {}}
	refusals := 0
	defer func() {
		if refusals < 100 {
			t.Errorf("only %d refusals in all sequences: the property is barely exercised", refusals)
		}
	}()
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 13))
			c := testclock.New(time.UnixMicro(1_700_000_000_000_000))
			red := ratelimit.NewRedis(ratelimit.RedisOptions{Store: st, Now: c.Now})
			ref := &model{tat: map[string]int64{}}
			keyLimit := map[string]ratelimit.Limit{}
			for i := range 300 {
				c.Add(time.Duration(rng.IntN(5)*rng.IntN(200)) * time.Millisecond)
				takes := make([]ratelimit.Take, 1+rng.IntN(2))
				for j := range takes {
					k := fmt.Sprintf("seed%d-k%d", seed, rng.IntN(4))
					if _, ok := keyLimit[k]; !ok {
						keyLimit[k] = limits[rng.IntN(len(limits))]
					}
					takes[j] = ratelimit.Take{Key: k, Limit: keyLimit[k], Group: "g"}
				}
				wantIdx, wantWait := ref.allowAll(c.Now().UnixMicro(), takes)
				idx, wait, err := red.AllowAll(context.Background(), takes)
				if err != nil {
					t.Fatal(err)
				}
				if wantIdx >= 0 {
					refusals++
				}
				if idx != wantIdx || (idx >= 0 && (wait.Microseconds()-wantWait > 1 || wantWait-wait.Microseconds() > 1)) {
					t.Fatalf("step %d %+v: redis (%d, %s), model (%d, %dµs)", i, takes, idx, wait, wantIdx, wantWait)
				}
			}
		})
	}
}

// TestRedisShared: several clients (as several replicas) on one store share
// the bucket: in one instant, exactly the burst is allowed in total.
func TestRedisShared(t *testing.T) {
	srv := redistest.Start(t)
	c := testclock.New(time.Unix(1_700_000_000, 0))
	var lims []*ratelimit.Redis
	for range 3 {
		lims = append(lims, ratelimit.NewRedis(ratelimit.RedisOptions{Store: srv.Store(t), Now: c.Now}))
	}
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := range 90 {
		wg.Go(func() {
			ok, _, err := lims[i%3].Allow(context.Background(), "client", ratelimit.Limit{PerSecond: 1, Burst: 25})
			if err != nil {
				t.Error(err)
			}
			if ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 25 {
		t.Errorf("%d allowed across three clients, want the burst of 25", n)
	}
}

// TestRedisKeys: keys hold hashes, not the client or subject, and expire
// once the bucket is full again.
func TestRedisKeys(t *testing.T) {
	srv := redistest.Start(t)
	st := srv.Store(t)
	red := ratelimit.NewRedis(ratelimit.RedisOptions{Store: st})
	takes := []ratelimit.Take{{Key: "c\x00orders", Group: "orders", Limit: ratelimit.Limit{PerSecond: 1, Burst: 5}},
		{Key: "s\x00orders\x00corp\x00alice@example.com", Group: "orders", Limit: ratelimit.Limit{PerSecond: 1, Burst: 5}}}
	if idx, _, err := red.AllowAll(context.Background(), takes); err != nil || idx != -1 {
		t.Fatalf("AllowAll = %d, %v", idx, err)
	}
	keys, err := st.Keys(context.Background(), "*").Result()
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys %q, %v", keys, err)
	}
	tag := ""
	for _, k := range keys {
		if !strings.HasPrefix(k, "tokex:rl:{") || strings.Contains(k, "orders") || strings.Contains(k, "alice") {
			t.Errorf("key %q must be tokex:rl:{group hash}:hash", k)
		}
		if ttl, err := st.PTTL(context.Background(), k).Result(); err != nil || ttl <= 0 || ttl > 1100*time.Millisecond {
			t.Errorf("key %q ttl %s, %v; want about 1s (until the bucket is full)", k, ttl, err)
		}
		k = k[strings.Index(k, "{"):]
		if tag != "" && k[:strings.Index(k, "}")] != tag {
			t.Errorf("the keys of one group have different hash tags: %q", keys)
		}
		tag = k[:strings.Index(k, "}")]
	}
}

// TestRedisDown: a store that cannot answer lets requests through when the
// limiter fails open, and is an error when it fails closed; both count it.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	st := srv.Store(t)
	open := ratelimit.NewRedis(ratelimit.RedisOptions{Store: st, FailOpen: true})
	closed := ratelimit.NewRedis(ratelimit.RedisOptions{Store: st})
	l := ratelimit.Limit{PerSecond: 1, Burst: 1}
	srv.Stop()
	if ok, _, err := open.Allow(context.Background(), "k", l); !ok || err != nil {
		t.Errorf("fail open: ok=%v err=%v, want allowed", ok, err)
	}
	if ok, _, err := closed.Allow(context.Background(), "k", l); ok || err == nil {
		t.Errorf("fail closed: ok=%v err=%v, want an error", ok, err)
	}
	// A Required take is never let through unanswered, even failing open.
	if idx, _, err := open.AllowAll(context.Background(), []ratelimit.Take{{Key: "k", Limit: l}, {Key: "once", Limit: l, Required: true}}); err == nil {
		t.Errorf("fail open with a required take: refused=%d, want an error", idx)
	}
	srv.Start()
	redistest.Recovers(t, 5*time.Second, func() error {
		_, _, err := closed.Allow(context.Background(), "k2", l)
		return err
	})
}

// TestRedisBucketOfOne: a bucket of one gives its token on the first take
// whatever its rate (a fractional interval once rounded some first takes into
// refusals), then none until it refills: what a replay check taken as a
// bucket (a DPoP proof's jti) relies on.
func TestRedisBucketOfOne(t *testing.T) {
	red := ratelimit.NewRedis(ratelimit.RedisOptions{Store: redistest.Start(t).Store(t)})
	for _, rate := range []float64{3, 7, 1 / 119.7, 1 / 90.3, 1 / 300.0} {
		l := ratelimit.Limit{PerSecond: rate, Burst: 1}
		for i := range 100 {
			key := fmt.Sprintf("k-%g-%d", rate, i)
			if ok, _, err := red.Allow(context.Background(), key, l); !ok || err != nil {
				t.Fatalf("rate %g, key %d: first take refused (%v)", rate, i, err)
			}
			ok, wait, err := red.Allow(context.Background(), key, l)
			if ok || err != nil || wait <= 0 || wait > time.Duration(float64(time.Second)/rate) {
				t.Fatalf("rate %g, key %d: second take ok=%v wait=%s err=%v, want refused until it refills", rate, i, ok, wait, err)
			}
		}
	}
}

// BenchmarkAllow compares, in one run, the in-memory limiter with the Redis
// one on a local redis-server (client and subject buckets, one script call).
func BenchmarkAllow(b *testing.B) {
	l := ratelimit.Limit{PerSecond: 1e9, Burst: 1e9}
	takes := []ratelimit.Take{{Key: "c\x00orders", Group: "orders", Limit: l}, {Key: "s\x00orders\x00corp\x00alice", Group: "orders", Limit: l}}
	run := func(b *testing.B, lim ratelimit.Limiter) {
		ctx := context.Background()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := ratelimit.AllowAll(ctx, lim, takes); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("memory", func(b *testing.B) { run(b, ratelimit.NewMemory(ratelimit.MemoryOptions{})) })
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		run(b, ratelimit.NewRedis(ratelimit.RedisOptions{Store: srv.Store(b)}))
	})
}
