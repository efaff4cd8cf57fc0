// Package variants generates hostile and well-formed JWS compact tokens for
// differential tests: from a seed, each variant starts as a valid token
// (RS256 or ES256) and takes one to three mutations of its header, claims,
// segments, encoding or signature. The same seed and count give the same
// variants (math/rand/v2 PCG; RSA PKCS #1 v1.5 signatures are deterministic,
// ECDSA ones are not, but they verify the same).
//
// Invariants: no production package imports it (like testidp); every variant
// records its mutations in Desc, and Refuse names the rule (an RFC section or
// tokex's own policy) when a variant must be refused whatever another
// implementation does.
package variants
