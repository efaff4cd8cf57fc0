// Package demo is the built-in demo identity provider and policy that tokex runs
// with when no policy file is given, so a newcomer can do a whole exchange with
// curl. It is never active when TOKEX_CONFIG is set.
//
// Invariants: the demo IdP's key is generated at start and lives only in memory;
// its tokens are subject tokens for the demo policy and nothing else.
package demo
