// Package condition compiles the CEL expressions of the policy file: rule
// `require`, `scope_conditions` and `actor_require` and issuer `validate`
// (boolean conditions), rule `claims` (claim mapping, any JSON value) and
// issuer `subject` (a string). Config validation uses it to report a bad
// expression along with every other problem of the file; the policy compiles
// the programs it runs.
//
// Invariants: an expression sees only `claims` (the subject token's claims),
// an `actor_require` condition also `actor` (the actor token's), a Txn-Token
// rule's also `request_context` and `request_details`; a condition
// must be boolean; a mapped value must be JSON; evaluation cost is bounded.
package condition

import (
	"fmt"

	"cel.dev/cel-go/cel"
)

// CostLimit bounds the work of one evaluation, so no policy can make an
// exchange arbitrarily expensive.
const CostLimit = 10_000

// NewEnv is the CEL environment of rule conditions.
func NewEnv() (*cel.Env, error) {
	return cel.NewEnv(cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)))
}

// Compile turns expr into a program; the error is fit for a config problem.
func Compile(env *cel.Env, expr string) (cel.Program, error) {
	return compile(env, expr, "condition", func(t *cel.Type) error {
		if t != cel.BoolType && t != cel.DynType {
			return fmt.Errorf("must be a boolean condition, not %s", t)
		}
		return nil
	})
}
