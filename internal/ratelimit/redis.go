package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokex/tokex/internal/store"
)

// Take is one bucket to take a token from.
type Take struct {
	Key   string
	Limit Limit
	// Group: the keys of one call to AllowAll share it (in Redis Cluster they
	// must hash to one slot, so the group is the key's hash tag). Empty: Key.
	Group string
	// Required: the store must answer for this take even when the limiter
	// fails open (a replay check taken as a bucket, which is never let
	// through unchecked).
	Required bool
}

// Batcher is a Limiter whose every call is a round trip to a shared store: it
// takes from several buckets in one call. Callers that know several keys at
// once use it to keep one round trip per request.
type Batcher interface {
	Limiter
	// AllowAll takes one token from each bucket in order and stops at the
	// first that is empty, returning its index and how long until it holds a
	// token again (tokens taken before it stay taken, as with successive
	// Allow calls). refused is -1 when every bucket gave a token.
	AllowAll(ctx context.Context, takes []Take) (refused int, retryAfter time.Duration, err error)
}

// gcra is the Generic Cell Rate Algorithm (ITU-T I.371 "virtual scheduling";
// as in redis-cell and Brandur Leach's throttled), which is a token bucket
// kept as one number per key: the theoretical arrival time (TAT) of the next
// request. With emission interval T = 1/rate and capacity B, a request at now
// is allowed when max(TAT, now) + T - now <= B*T; it then sets TAT to
// max(TAT, now) + T. Refused, it waits max(TAT, now) + T - now - B*T. The key
// expires when the bucket is full again (TAT <= now), so idle keys cost
// nothing. A Memory bucket and this agree (TestRedisModel).
//
// KEYS: the buckets. ARGV[1]: now in microseconds, or -1 for the server's
// clock (one clock for every replica); then T and B*T in microseconds per key.
// Returns {0, 0} when all gave a token, else {i (1-based), wait in µs}.
// Everything runs on the server in one step, never read-then-write.
const gcraScript = `
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2*i])
  local capacity = tonumber(ARGV[2*i+1])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new = tat + interval
  local over = new - now - capacity
  if over > 0 then
    return {i, math.ceil(over)}
  end
  redis.call('SET', key, string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000) + 1)
end
return {0, 0}
`

var gcra = redis.NewScript(gcraScript)

// RedisOptions build a Redis limiter.
type RedisOptions struct {
	Store *store.Client
	// FailOpen lets a request through when the store cannot answer (counted
	// and logged by the store); false returns the error, and the caller refuses.
	FailOpen bool
	// Now: nil uses the store server's clock, shared by every replica; tests
	// inject one.
	Now func() time.Time
}

// Redis is a Limiter shared by every replica on one store: one Lua script
// call (EVALSHA, EVAL when the server does not have it yet) per AllowAll.
type Redis struct {
	st       *store.Client
	failOpen bool
	now      func() time.Time
}

// NewRedis returns a limiter on o.Store.
func NewRedis(o RedisOptions) *Redis {
	return &Redis{st: o.Store, failOpen: o.FailOpen, now: o.Now}
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string, l Limit) (bool, time.Duration, error) {
	refused, wait, err := r.AllowAll(ctx, []Take{{Key: key, Limit: l}})
	return refused < 0, wait, err
}

// AllowAll implements Batcher.
func (r *Redis) AllowAll(ctx context.Context, takes []Take) (int, time.Duration, error) {
	keys := make([]string, 0, len(takes))
	args := make([]any, 1, 1+2*len(takes))
	args[0] = int64(-1)
	if r.now != nil {
		args[0] = r.now().UnixMicro()
	}
	index := make([]int, 0, len(takes)) // script position -> takes index
	for i, t := range takes {
		if t.Limit.PerSecond <= 0 {
			continue // no limit: nothing to take
		}
		// Whole microseconds: next to a timestamp of about 1.7e15 µs a double
		// keeps quarters of one, so a fractional T could round a full bucket
		// of one into a refusal. B*T is an exact multiple of T.
		interval := max(1, math.Round(1e6/t.Limit.PerSecond))
		keys = append(keys, r.key(t))
		args = append(args, strconv.FormatFloat(interval, 'f', 0, 64), strconv.FormatFloat(burst(t.Limit)*interval, 'f', 0, 64))
		index = append(index, i)
	}
	if len(keys) == 0 {
		return -1, 0, nil
	}
	ctx, done := r.st.Observe(ctx, "ratelimit.take")
	res, err := gcra.Run(ctx, r.st, keys, args...).Int64Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected script answer %v", res)
	}
	done(err)
	if err != nil {
		if r.failOpen && !slices.ContainsFunc(takes, func(t Take) bool { return t.Required }) {
			r.st.FailOpen(ctx, "ratelimit.take")
			return -1, 0, nil
		}
		return 0, 0, fmt.Errorf("rate limit store: %w", err)
	}
	if res[0] == 0 {
		return -1, 0, nil
	}
	return index[res[0]-1], time.Duration(res[1]) * time.Microsecond, nil
}

// key is prefix + "rl:{" + hash of the group + "}:" + hash of the key: the
// braces are a Redis Cluster hash tag, so a group's keys share a slot.
func (r *Redis) key(t Take) string {
	g := t.Group
	if g == "" {
		g = t.Key
	}
	gs := sha256.Sum256([]byte(g))
	return r.st.Key("rl:{"+base64.RawURLEncoding.EncodeToString(gs[:9])+"}", t.Key)
}

// burst is the bucket capacity of l, as Memory reads it.
func burst(l Limit) float64 {
	if l.Burst >= 1 {
		return float64(l.Burst)
	}
	return math.Max(1, math.Ceil(l.PerSecond))
}
