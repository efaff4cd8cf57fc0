// Package ratelimit holds token buckets per key (a client, a client's
// subject), for the abuse limits of the policy.
//
// Invariants: Limiter is the seam for a shared store (several replicas); Memory
// holds at most its capacity of buckets, dropping idle (full) ones first; a
// refusal says how long until the bucket holds a token again (Retry-After).
// Limits are off unless configured, and callers skip this package entirely then.
package ratelimit
