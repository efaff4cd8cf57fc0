// Package scope reads the scope parameter of RFC 6749 §3.3: scope-tokens of
// %x21 / %x23-5B / %x5D-7E separated by spaces (%x20; runs of them are
// tolerated, any other whitespace is not). It is the one
// reader of scope strings: the /token form, tokex explain and the policy's
// rule scopes all go through it.
//
// Invariants: Parse runs in time linear in its input, refuses more than
// MaxTokens tokens before splitting, and returns only valid tokens, each once,
// in the order first given.
package scope
