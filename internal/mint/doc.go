// Package mint builds and signs RFC 9068 JWT access tokens.
//
// Invariants: every token has typ at+jwt, alg and kid in its header and iss,
// sub, aud, exp, iat, nbf, jti, client_id and scope in its claims (RFC 9068 §2),
// then the rule's mapped claims, which never repeat a registered one;
// exp is never later than the caller's bound; the jti is 128 random bits; time
// comes from the injected clock.
package mint
