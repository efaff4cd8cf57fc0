// Package tokensource is the caller's side of tokex: an oauth2.TokenSource
// that exchanges a subject token for a token for one downstream API (RFC
// 8693), and an http.RoundTripper that sends requests with it.
//
// A Source authenticates to tokex with a client secret (client_secret_basic),
// a private key (private_key_jwt, RFC 7523) or a TLS client certificate
// (tls_client_auth, RFC 8705), and caches each token, per subject and actor,
// until shortly before it expires (the smaller of 30 seconds and a tenth of
// its lifetime). Concurrent callers for the same subject share one exchange.
// With a DPoPKey every exchange carries a DPoP proof (RFC 9449), a
// use_dpop_nonce answer is retried once with the server's nonce, and the
// tokens are DPoP-bound: send them with Transport, which signs a proof per
// request. Refusals by tokex are *Error values with the OAuth error code and
// description.
//
// Keys are any crypto.Signer: ECDSA P-256 (ES256) or P-384 (ES384), RSA
// (RS256) or Ed25519 (EdDSA); ECDSA signatures are converted from ASN.1 to
// the JWS form, so keys held in an HSM or a cloud KMS work as well.
package tokensource
