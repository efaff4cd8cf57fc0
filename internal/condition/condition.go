// Package condition compiles the CEL conditions of the policy file (rule
// `require`). Config validation uses it to report a bad expression along with
// every other problem of the file; the policy compiles the programs it runs.
//
// Invariants: a `require` condition sees only `claims` (the subject token's
// claims), an `actor_require` condition also `actor` (the actor token's); it
// must be boolean; its evaluation cost is bounded.
package condition

import (
	"fmt"
	"strings"

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
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("not a valid CEL condition: %s", strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	if ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("must be a boolean condition, not %s", ast.OutputType())
	}
	prg, err := env.Program(ast, cel.CostLimit(CostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("cannot build condition: %w", err)
	}
	return prg, nil
}
