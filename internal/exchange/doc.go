// Package exchange runs one RFC 8693 token exchange: client authentication,
// request checks, subject token validation, policy, minting. It is the only place
// that runs those steps, so no path can skip one, and it owns the error
// vocabulary: every refusal is an *Error with an OAuth code and a description
// that is safe for the client.
//
// Explain (tokex explain) runs the same steps without signing and goes on past
// failures; its verdict is the error Exchange would return.
//
// Invariants: one span per step and one audit event per exchange, accepted or
// refused; neither ever holds a raw token or secret. Nothing here knows HTTP.
package exchange
