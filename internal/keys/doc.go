// Package keys is tokex's own key set: the keys it signs with, their lifecycle
// (next, active, retired), and the public JWKS (RFC 7517) it publishes.
//
// Invariants: a Set is immutable once built; it has exactly one active key;
// the JWKS holds the next and active keys and every retired key until its
// publish_until, never private key material, each with kid, alg and use=sig.
// LoadFile is the one way a keys file is read and validated. Signing goes
// through crypto.Signer only, so a key may live in an HSM (build tag pkcs11).
// Replacing a Set is the caller's job (an atomic pointer swap).
package keys
