package condition

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// maxDepth bounds the nesting of a mapped value, as JSON encoders do.
const maxDepth = 32

// CompileValue turns a claim mapping expression into a program. Unlike a
// condition it may have any type; its value is checked when it runs (JSON).
func CompileValue(env *cel.Env, expr string) (cel.Program, error) {
	return compile(env, expr, "expression", func(t *cel.Type) error {
		switch t.Kind() {
		case types.BytesKind, types.TypeKind, types.OpaqueKind, types.StructKind:
			return fmt.Errorf("gives %s, which is not a JSON value: use a string, number, bool, list or map", t)
		}
		return nil
	})
}

// CompileString turns expr into a program that gives a string (issuers[].subject,
// e.g. claims.oid); the error is fit for a config problem.
func CompileString(env *cel.Env, expr string) (cel.Program, error) {
	return compile(env, expr, "expression", func(t *cel.Type) error {
		if t != cel.StringType && t != cel.DynType {
			return fmt.Errorf("must give a string, not %s", t)
		}
		return nil
	})
}

// compile parses and checks expr, lets typeOK judge its output type and builds
// a cost-limited program; what names the kind of expression in errors.
func compile(env *cel.Env, expr, what string, typeOK func(*cel.Type) error) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("not a valid CEL %s: %s", what, strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	if err := typeOK(ast.OutputType()); err != nil {
		return nil, err
	}
	prg, err := env.Program(ast, cel.CostLimit(CostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("cannot build %s: %w", what, err)
	}
	return prg, nil
}

// ErrNoSuchKey is returned by Eval when the value is missing because the
// expression named a claim the token does not have.
var ErrNoSuchKey = errors.New("a claim the expression reads is absent")

// Eval runs prg over claims and returns its value as JSON-able Go data
// (string, float64, int64, uint64, bool, nil, []any, map[string]any).
// Timestamps become RFC 3339 strings and durations seconds.
func Eval(ctx context.Context, prg cel.Program, claims map[string]any) (any, error) {
	return EvalVars(ctx, prg, map[string]any{"claims": claims})
}

// EvalVars is Eval over the variables of another environment (NewTxnEnv).
func EvalVars(ctx context.Context, prg cel.Program, vars map[string]any) (any, error) {
	out, _, err := prg.ContextEval(ctx, vars)
	if err != nil {
		// CEL reports a missing map key only in the message of an unexported
		// error; TestEvalMissingKey pins the wording.
		if strings.Contains(err.Error(), "no such key") {
			return nil, fmt.Errorf("%w: %w", ErrNoSuchKey, err)
		}
		return nil, err
	}
	return JSON(out)
}

// EvalBool runs a condition over claims. A missing claim is an error in CEL;
// callers treat any error as "not met".
func EvalBool(ctx context.Context, prg cel.Program, claims map[string]any) (bool, error) {
	return EvalBoolVars(ctx, prg, map[string]any{"claims": claims})
}

// EvalBoolVars is EvalBool over the variables of another environment.
func EvalBoolVars(ctx context.Context, prg cel.Program, vars map[string]any) (bool, error) {
	out, _, err := prg.ContextEval(ctx, vars)
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

// JSON converts a CEL value to JSON-able Go data, or says why it cannot.
func JSON(v ref.Val) (any, error) { return toJSON(v, 0) }

func toJSON(v ref.Val, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("value nests deeper than %d levels", maxDepth)
	}
	switch x := v.(type) {
	case types.String:
		return string(x), nil
	case types.Bool:
		return bool(x), nil
	case types.Int:
		return int64(x), nil
	case types.Uint:
		return uint64(x), nil
	case types.Double:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("value %v is not a JSON number", float64(x))
		}
		return float64(x), nil
	case types.Null:
		return nil, nil
	case types.Timestamp:
		return x.Time.UTC().Format(time.RFC3339Nano), nil
	case types.Duration:
		return x.Duration.Seconds(), nil
	case traits.Mapper:
		out := map[string]any{}
		it := x.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("map key of type %s: JSON object keys are strings", k.Type())
			}
			e, err := toJSON(x.Get(k), depth+1)
			if err != nil {
				return nil, err
			}
			out[string(ks)] = e
		}
		return out, nil
	case traits.Lister:
		out := []any{}
		it := x.Iterator()
		for it.HasNext() == types.True {
			e, err := toJSON(it.Next(), depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	}
	if types.IsError(v) {
		return nil, fmt.Errorf("%v", v)
	}
	return nil, fmt.Errorf("value of type %s is not JSON: use a string, number, bool, list or map", v.Type())
}
