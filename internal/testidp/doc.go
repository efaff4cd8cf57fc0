// Package testidp is a fake upstream identity provider for tests only: an
// httptest server that serves OIDC discovery (and RFC 8414 metadata) and a JWKS
// with real keys (RSA-2048 for RS256, EC P-256 for ES256), and signs tokens with
// them, or with hostile variations (alg none, HS256 keyed with the RSA public
// key, an unpublished key, key-carrying headers, crit, ...).
//
// Invariants: no production package imports it; it never mocks keyfunc or jwt,
// so what tokex verifies is a real signature over real bytes. Its controls
// (failing, hanging or oversized JWKS, key rotation, fetch counters) are safe for
// concurrent use, and the server closes through t.Cleanup.
package testidp
