package replay

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"
)

// Cache records identifiers until their expiry.
type Cache interface {
	// Use records key until exp. It reports false when key is already
	// recorded and has not expired: a replay.
	Use(ctx context.Context, key string, exp time.Time) (fresh bool, err error)
}

// ErrFull is returned when the cache holds its capacity of unexpired entries;
// accepting the identifier unrecorded would allow a replay.
var ErrFull = errors.New("replay cache is full")

// DefaultCapacity bounds Memory unless MemoryOptions say otherwise.
const DefaultCapacity = 100_000

// MemoryOptions build a Memory.
type MemoryOptions struct {
	Capacity int              // most entries held; default DefaultCapacity
	Now      func() time.Time // default time.Now
}

// Memory is an in-process Cache for one replica.
type Memory struct {
	mu    sync.Mutex
	cap   int
	now   func() time.Time
	exp   map[string]time.Time
	queue expiries // min-heap by expiry: evicting the expired is O(log n) each
}

// NewMemory returns an empty in-memory cache.
func NewMemory(o MemoryOptions) *Memory {
	if o.Capacity <= 0 {
		o.Capacity = DefaultCapacity
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Memory{cap: o.Capacity, now: o.Now, exp: map[string]time.Time{}}
}

// Use implements Cache.
func (m *Memory) Use(_ context.Context, key string, exp time.Time) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.evict(now)
	if e, ok := m.exp[key]; ok && e.After(now) {
		return false, nil
	}
	if len(m.exp) >= m.cap {
		return false, ErrFull
	}
	m.exp[key] = exp
	heap.Push(&m.queue, entry{key: key, exp: exp})
	return true, nil
}

// Len is the number of entries held.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.exp)
}

func (m *Memory) evict(now time.Time) {
	for len(m.queue) > 0 && !m.queue[0].exp.After(now) {
		e := heap.Pop(&m.queue).(entry)
		if cur, ok := m.exp[e.key]; ok && cur.Equal(e.exp) {
			delete(m.exp, e.key)
		}
	}
}

type entry struct {
	key string
	exp time.Time
}

type expiries []entry

func (q expiries) Len() int           { return len(q) }
func (q expiries) Less(i, j int) bool { return q[i].exp.Before(q[j].exp) }
func (q expiries) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *expiries) Push(x any)        { *q = append(*q, x.(entry)) }
func (q *expiries) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}
