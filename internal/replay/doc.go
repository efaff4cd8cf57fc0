// Package replay remembers one-time identifiers (the jti of client assertions,
// RFC 7523 §3 item 7) until they expire, so a replayed assertion is refused.
//
// Invariants: Cache is the seam for a shared store (several replicas must share
// one); Memory holds at most its capacity of entries and drops each one once it
// has expired; an identifier is accepted at most once while it is remembered.
package replay
