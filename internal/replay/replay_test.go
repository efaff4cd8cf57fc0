package replay_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tokex/tokex/internal/replay"
	"github.com/tokex/tokex/internal/testclock"
)

func TestMemory(t *testing.T) {
	ctx := context.Background()
	type step struct {
		advance time.Duration
		key     string
		ttl     time.Duration
		fresh   bool
		err     error
	}
	tests := []struct {
		name  string
		cap   int
		steps []step
	}{
		{name: "first use is fresh, second is a replay", cap: 10, steps: []step{
			{key: "a", ttl: time.Minute, fresh: true},
			{key: "a", ttl: time.Minute, fresh: false},
			{key: "b", ttl: time.Minute, fresh: true},
		}},
		{name: "a replay within the lifetime is refused, after expiry the key is forgotten", cap: 10, steps: []step{
			{key: "a", ttl: time.Minute, fresh: true},
			{advance: 59 * time.Second, key: "a", ttl: time.Minute, fresh: false},
			{advance: 2 * time.Second, key: "a", ttl: time.Minute, fresh: true},
		}},
		{name: "full of unexpired entries refuses", cap: 2, steps: []step{
			{key: "a", ttl: time.Minute, fresh: true},
			{key: "b", ttl: time.Minute, fresh: true},
			{key: "c", ttl: time.Minute, err: replay.ErrFull},
		}},
		{name: "full, but expired entries make room", cap: 2, steps: []step{
			{key: "a", ttl: time.Second, fresh: true},
			{key: "b", ttl: time.Minute, fresh: true},
			{advance: 2 * time.Second, key: "c", ttl: time.Minute, fresh: true},
			{key: "b", ttl: time.Minute, fresh: false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testclock.New(time.Unix(1_700_000_000, 0))
			m := replay.NewMemory(replay.MemoryOptions{Capacity: tc.cap, Now: c.Now})
			for i, s := range tc.steps {
				c.Add(s.advance)
				fresh, err := m.Use(ctx, s.key, c.Now().Add(s.ttl))
				if !errors.Is(err, s.err) {
					t.Fatalf("step %d: err = %v, want %v", i, err, s.err)
				}
				if fresh != s.fresh {
					t.Fatalf("step %d: fresh = %v, want %v", i, fresh, s.fresh)
				}
			}
		})
	}
}

// TestMemoryBounded: expired entries are dropped, so the cache does not grow
// with the number of identifiers ever seen.
func TestMemoryBounded(t *testing.T) {
	c := testclock.New(time.Unix(1_700_000_000, 0))
	m := replay.NewMemory(replay.MemoryOptions{Capacity: 100, Now: c.Now})
	for i := range 10_000 {
		fresh, err := m.Use(context.Background(), fmt.Sprint(i), c.Now().Add(time.Second))
		if err != nil || !fresh {
			t.Fatalf("use %d: fresh=%v err=%v", i, fresh, err)
		}
		c.Add(100 * time.Millisecond)
	}
	if n := m.Len(); n > 11 {
		t.Errorf("%d entries held; expired ones must be dropped", n)
	}
}
