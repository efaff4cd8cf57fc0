// Package inspect describes a token for a person: what kind it is, which
// identity provider issued it (internal/idp's table), what it says (audience,
// subject, scopes, lifetime, binding, delegation), and which checks an API
// expecting a given issuer and audience would fail, each with what to do
// instead. It is the engine of `tokex inspect`.
//
// Inspect works offline: the token never leaves the process, and a Report
// never holds it (the signature appears only as its length). Only with
// Options.Verify are the issuer's metadata and JWKS fetched, over https (or
// http to a loopback host), to check the signature.
package inspect
