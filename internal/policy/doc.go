// Package policy compiles the exchange rules of the policy file into an
// immutable, indexed Policy and evaluates one exchange against it.
//
// Invariants: Compile validates everything (structure and CEL) before anything is
// built, and reports every problem at once; a compiled Policy is never mutated,
// so a reload swaps a whole new one; a rule is found by a map lookup on
// (client, issuer, audience), never by scanning, so the cost of one exchange does
// not grow with the number of rules, clients or issuers. A rule's claim mapping
// and scope conditions are CEL programs compiled once; a mapping never sets a
// registered claim (config.ReservedClaims).
package policy
