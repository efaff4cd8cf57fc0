// Package verify is the API's side of tokex: it checks the access tokens
// tokex mints (RFC 9068 JWT access tokens) and the proof of possession that
// comes with sender-constrained ones, and the Transaction Tokens it mints
// for the workloads of a trust domain, with plain net/http.
//
// A Verifier checks, in this order, and refuses with a description that says
// which check failed and what the token was instead:
//
//   - the header: no jku, x5u, jwk, x5c or crit (keys come only from the
//     issuer's JWKS);
//   - typ is at+jwt (RFC 9068 §4 step 1): an ID token, a plain JWT, a
//     Transaction Token (txntoken+jwt) or an ID-JAG (oauth-id-jag+jwt) is
//     not an access token;
//   - iss is exactly Config.Issuer; alg is in the allowlist (never none or
//     HMAC); the signature verifies with a key of the issuer's JWKS, fetched
//     with keyfunc (an unknown kid refetches it, at most once a minute);
//   - aud contains Config.Audience; exp (required), nbf and iat hold with
//     Config.Leeway; sub is present;
//   - binding: a token with cnf.jkt must come as Authorization: DPoP with a
//     valid DPoP proof for this request (RFC 9449 §7: ath, htm, htu, iat,
//     jti not replayed) by the key cnf.jkt names; a token with
//     cnf.x5t#S256 must come over TLS with that client certificate (RFC
//     8705 §3); a bound token sent as Bearer is refused (no downgrade), and
//     with Config.RequireBinding so is every bearer token.
//
// Refusals are answered as RFC 6750 §3 and RFC 9449 §7.1 say: 401 (400 for
// a malformed request, 403 for insufficient_scope) with a WWW-Authenticate
// challenge and a JSON body {error, error_description}. The token is never
// echoed.
//
// The token is read only from the Authorization header (RFC 6750 §2.1),
// never from a query parameter or form field.
//
// VerifyTxnToken and TxnMiddleware are the side of a workload inside a
// trust domain: they check a Transaction Token
// (draft-ietf-oauth-transaction-tokens-10) read only from the Txn-Token
// header (exactly one, the JWT alone), with the same header, iss, alg,
// signature and time checks and leeway; typ must be txntoken+jwt (an access
// token, an ID-JAG, a DPoP proof is refused as what it is, as Verify refuses
// a Transaction Token); aud must be exactly Config.TrustDomain (without it
// VerifyTxnToken refuses to run, never accepting any aud); iat, txn, sub,
// scope and req_wl (a string, or an array oldest first once replaced) are
// required, tctx and rctx must be objects. These refusals carry no
// WWW-Authenticate challenge.
//
// The DPoP htu is Config.PublicURL (or the connection's scheme and Host)
// followed by the path of the request target; X-Forwarded-* headers are
// never believed. DPoP nonces at the resource server are not required.
package verify
