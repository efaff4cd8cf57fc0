// Package replay remembers one-time identifiers (the jti of client assertions,
// RFC 7523 §3 item 7) until they expire, so a replayed assertion is refused.
//
// Invariants: Cache is the seam for a shared store; Memory is one replica's
// (at most its capacity of entries, each dropped once expired); Redis is every
// replica's, one atomic SET NX PX per identifier under a hashed key in its own
// namespace (a DPoP proof cache takes another namespace on the same store). An
// identifier is accepted at most once while it is remembered, and a store that
// cannot answer is an error, never a fresh identifier: callers fail closed.
package replay
