// Package client authenticates the callers of /token (RFC 6749 §2.3).
//
// Invariants: secrets are stored only as SHA-256 digests and compared in
// constant time; an unknown client costs the same work as a wrong secret and gets
// the same answer; a request that uses two authentication methods is refused
// (RFC 6749 §2.3: a client MUST NOT use more than one).
package client
