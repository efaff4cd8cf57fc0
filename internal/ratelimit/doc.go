// Package ratelimit holds token buckets per key (a client, a client's
// subject), for the abuse limits of the policy.
//
// Invariants: Limiter is the seam for a shared store; Memory is one replica's
// (at most its capacity of buckets, idle full ones dropped first); Redis is
// every replica's, the GCRA in one server-side Lua script per call, taking
// several buckets at once (Batcher), and either letting requests through or
// returning an error when the store cannot answer (RedisOptions.FailOpen). A
// refusal says how long until the bucket holds a token again (Retry-After).
// Limits are off unless configured, and callers skip this package entirely then.
package ratelimit
