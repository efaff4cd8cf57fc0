// Package issuer validates subject and actor tokens against trusted upstream
// issuers and returns the validated Principal.
//
// Invariants: the unverified iss only selects the issuer; every issuer has its own
// keyfunc (keyfunc merges the keys of several URLs into one pool, so a key of one
// issuer must never verify a token of another); alg is checked against the
// issuer's allowlist before any key is looked up; jku, jwk, x5u and x5c headers are
// refused, never followed; exp is required. Every refusal is an *Error whose
// Reason names the failed check and whose Description is safe to show a client.
// A {tenantid} template issuer is found by the text around the placeholder (no
// scan of the issuers); its value is matched literally and must equal tid, and
// each tenant with keys of its own gets its own key set.
package issuer
