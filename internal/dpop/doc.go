// Package dpop checks DPoP proofs (RFC 9449) and issues the nonces that make
// them fresh (§8).
//
// A Verifier runs the checks of RFC 9449 §4.3 in a fixed order and stops at
// the first failure, each with its own description. A proof's jti is recorded
// in a replay.Cache under a hash of (key thumbprint, jti), so that with a
// shared cache a proof is accepted once across all replicas; a cache that
// cannot answer refuses the proof (fail closed). With Request.DeferReplay the
// caller records that hash itself (the token endpoint on a shared store does,
// in the round trip of its rate limits). Nonces are stateless: an
// HMAC of a time step under a secret every replica shares, so any replica
// accepts another's nonce. Proofs and keys never reach a log or an error.
package dpop
