package condition

import (
	"context"
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
)

// CompileString turns expr into a program that gives a string (issuers[].subject,
// e.g. claims.oid); the error is fit for a config problem.
func CompileString(env *cel.Env, expr string) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("not a valid CEL expression: %s", strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	if ast.OutputType() != cel.StringType && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("must give a string, not %s", ast.OutputType())
	}
	prg, err := env.Program(ast, cel.CostLimit(CostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("cannot build expression: %w", err)
	}
	return prg, nil
}

// EvalBool runs a condition over claims. A missing claim is an error in CEL;
// callers treat any error as "not met".
func EvalBool(ctx context.Context, prg cel.Program, claims map[string]any) (bool, error) {
	out, _, err := prg.ContextEval(ctx, map[string]any{"claims": claims})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("condition gave %T, not a boolean", out.Value())
	}
	return b, nil
}

// EvalString runs a string expression over claims.
func EvalString(ctx context.Context, prg cel.Program, claims map[string]any) (string, error) {
	out, _, err := prg.ContextEval(ctx, map[string]any{"claims": claims})
	if err != nil {
		return "", err
	}
	s, ok := out.Value().(string)
	if !ok {
		return "", fmt.Errorf("expression gave %T, not a string", out.Value())
	}
	return s, nil
}
