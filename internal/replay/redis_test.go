package replay_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokex/tokex/internal/redistest"
	"github.com/tokex/tokex/internal/replay"
)

func TestRedis(t *testing.T) {
	srv := redistest.Start(t)
	st := srv.Store(t)
	ctx := context.Background()
	c := replay.NewRedis(replay.RedisOptions{Store: st, Namespace: replay.NamespaceClientAssertion})
	other := replay.NewRedis(replay.RedisOptions{Store: st, Namespace: "jti:other"})
	exp := time.Now().Add(time.Minute)
	for i, s := range []struct {
		c     *replay.Redis
		key   string
		fresh bool
	}{
		{c, "orders\x00a", true},
		{c, "orders\x00a", false},
		{c, "billing\x00a", true},    // another client's jti
		{other, "orders\x00a", true}, // another namespace
		{other, "orders\x00a", false},
	} {
		fresh, err := s.c.Use(ctx, s.key, exp)
		if err != nil || fresh != s.fresh {
			t.Fatalf("step %d: fresh=%v err=%v, want fresh=%v", i, fresh, err, s.fresh)
		}
	}
}

// TestRedisKeys: the stored key is the prefix, the namespace and a hash,
// never the identifier; it expires with the assertion.
func TestRedisKeys(t *testing.T) {
	srv := redistest.Start(t)
	st := srv.Store(t)
	c := replay.NewRedis(replay.RedisOptions{Store: st, Namespace: replay.NamespaceClientAssertion})
	if _, err := c.Use(context.Background(), "orders\x00secret-jti-value", time.Now().Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	keys, err := st.Keys(context.Background(), "*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys = %q, %v", keys, err)
	}
	k := keys[0]
	if !strings.HasPrefix(k, "tokex:jti:client_assertion:") || strings.Contains(k, "secret-jti-value") || strings.Contains(k, "orders") {
		t.Errorf("key %q must be prefix:namespace:hash", k)
	}
	ttl, err := st.PTTL(context.Background(), k).Result()
	if err != nil || ttl <= 80*time.Second || ttl > 90*time.Second {
		t.Errorf("ttl = %s, %v; want about 90s", ttl, err)
	}
}

// TestRedisOnce: many goroutines on several clients (as several replicas)
// race with the same identifier; exactly one wins.
func TestRedisOnce(t *testing.T) {
	srv := redistest.Start(t)
	caches := []*replay.Redis{}
	for range 3 {
		caches = append(caches, replay.NewRedis(replay.RedisOptions{Store: srv.Store(t), Namespace: replay.NamespaceClientAssertion}))
	}
	for round := range 20 {
		var won atomic.Int32
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Go(func() {
				fresh, err := caches[i%3].Use(context.Background(), "c\x00"+string(rune('a'+round)), time.Now().Add(time.Minute))
				if err != nil {
					t.Error(err)
				}
				if fresh {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if n := won.Load(); n != 1 {
			t.Fatalf("round %d: %d uses accepted, want exactly 1", round, n)
		}
	}
}

// TestRedisDown: a store that cannot answer is an error (the caller fails
// closed), never a fresh identifier; after it returns, uses work again.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	st := srv.Store(t)
	c := replay.NewRedis(replay.RedisOptions{Store: st, Namespace: replay.NamespaceClientAssertion})
	ctx := context.Background()
	if fresh, err := c.Use(ctx, "k1", time.Now().Add(time.Minute)); err != nil || !fresh {
		t.Fatalf("fresh=%v err=%v", fresh, err)
	}
	srv.Stop()
	if fresh, err := c.Use(ctx, "k2", time.Now().Add(time.Minute)); err == nil || fresh {
		t.Fatalf("store down: fresh=%v err=%v, want an error", fresh, err)
	}
	srv.Start()
	redistest.Recovers(t, 5*time.Second, func() error {
		fresh, err := c.Use(ctx, "k3", time.Now().Add(time.Minute))
		if err == nil && !fresh {
			err = errors.New("a new key is not fresh")
		}
		return err
	})
}

// BenchmarkUse compares, in one run, the in-memory cache with the Redis one
// on a local redis-server: one SET NX PX per fresh identifier.
func BenchmarkUse(b *testing.B) {
	run := func(b *testing.B, c replay.Cache) {
		ctx := context.Background()
		var n atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Use(ctx, "client\x00"+strconv.FormatInt(n.Add(1), 10), time.Now().Add(time.Minute)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("memory", func(b *testing.B) { run(b, replay.NewMemory(replay.MemoryOptions{Capacity: 1 << 24})) })
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		run(b, replay.NewRedis(replay.RedisOptions{Store: srv.Store(b), Namespace: replay.NamespaceClientAssertion}))
	})
}
