package ratelimit

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// Limit is one token bucket: Burst tokens, refilled at PerSecond.
type Limit struct {
	PerSecond float64
	Burst     int
}

// Limiter takes tokens from buckets.
type Limiter interface {
	// Allow takes one token from key's bucket under limit l. When the bucket is
	// empty it reports false and how long until a token is available.
	Allow(ctx context.Context, key string, l Limit) (ok bool, retryAfter time.Duration, err error)
}

// DefaultCapacity bounds Memory unless MemoryOptions say otherwise.
const DefaultCapacity = 100_000

const shards = 16

// MemoryOptions build a Memory.
type MemoryOptions struct {
	Capacity int              // most buckets held; default DefaultCapacity
	Now      func() time.Time // default time.Now
}

// Memory is an in-process Limiter for one replica.
type Memory struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [shards]shard
}

type shard struct {
	mu      sync.Mutex
	cap     int
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewMemory returns a limiter with no buckets yet.
func NewMemory(o MemoryOptions) *Memory {
	if o.Capacity <= 0 {
		o.Capacity = DefaultCapacity
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Memory{now: o.Now, seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i] = shard{cap: max(1, o.Capacity/shards), buckets: map[string]*bucket{}}
	}
	return m
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string, l Limit) (bool, time.Duration, error) {
	if l.PerSecond <= 0 {
		return true, 0, nil
	}
	burst := burst(l)
	now := m.now()
	s := &m.shards[maphash.String(m.seed, key)%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[key]
	if !ok {
		if len(s.buckets) >= s.cap {
			s.makeRoom(now, l.PerSecond, burst)
		}
		b = &bucket{tokens: burst, last: now}
		s.buckets[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(burst, b.tokens+el*l.PerSecond)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0, nil
	}
	wait := time.Duration((1 - b.tokens) / l.PerSecond * float64(time.Second))
	return false, wait, nil
}

// makeRoom drops buckets that have refilled (forgetting them changes nothing),
// then, if that freed less than a tenth, arbitrary ones: each full sweep buys
// room for many inserts.
func (s *shard) makeRoom(now time.Time, perSecond, burst float64) {
	for k, b := range s.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*perSecond >= burst {
			delete(s.buckets, k)
		}
	}
	for k := range s.buckets {
		if len(s.buckets) < s.cap-s.cap/10 {
			break
		}
		delete(s.buckets, k)
	}
}

// Len is the number of buckets held.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.buckets)
		s.mu.Unlock()
	}
	return n
}

// AllowAll is takes through l: one call when l is a Batcher, else Allow per
// take in order, stopping at the first refusal (index refused; -1: none).
func AllowAll(ctx context.Context, l Limiter, takes []Take) (refused int, retryAfter time.Duration, err error) {
	if b, ok := l.(Batcher); ok {
		return b.AllowAll(ctx, takes)
	}
	for i, t := range takes {
		ok, wait, err := l.Allow(ctx, t.Key, t.Limit)
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			return i, wait, nil
		}
	}
	return -1, 0, nil
}
