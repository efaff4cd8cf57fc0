// Package keys is tokex's own key set: the private keys it signs with and the
// public JWKS (RFC 7517) it publishes for downstream verifiers.
//
// Invariants: a Set is immutable once built; it always has exactly one active
// signing key; the published document never contains private key material; every
// published key carries kid, alg and use=sig. Replacing a Set is the caller's job
// (an atomic pointer swap), so in-flight signing never sees a half-built set.
package keys
