//go:build pkcs11

// Package pkcs11 signs with an EC P-256 key that never leaves a PKCS#11 token
// (an HSM, or SoftHSM2 in tests), as a crypto.Signer. Built only with the
// pkcs11 build tag, as it needs cgo.
//
// Invariants: the PIN comes from the environment, never from the keys file;
// Open signs and verifies a probe before returning, so a Signer whose key does
// not match the published public key is never handed out; one session per
// Signer, used under a mutex (PKCS#11 sign operations are per session), closed
// when the Signer is garbage collected. The module is never finalized: a
// PKCS#11 library is initialized once per process and may serve several Signers.
package pkcs11
