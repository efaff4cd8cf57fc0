package condition

import (
	"context"

	"cel.dev/cel-go/cel"
)

// NewActorEnv is the CEL environment of rule `actor_require` conditions: the
// actor token's claims as `actor`, the subject token's as `claims`.
func NewActorEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("actor", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
	)
}

// CompileActor compiles an actor_require condition.
func CompileActor(expr string) (cel.Program, error) {
	env, err := NewActorEnv()
	if err != nil {
		return nil, err
	}
	return Compile(env, expr)
}

// EvalActor runs an actor_require condition over the actor's and the
// subject's claims; like EvalBool, any error means "not met" to callers.
func EvalActor(ctx context.Context, prg cel.Program, actor, claims map[string]any) (bool, error) {
	return EvalBoolVars(ctx, prg, map[string]any{"actor": actor, "claims": claims})
}

// NewTxnEnv is the CEL environment of Txn-Token rules (`require`, `tctx`,
// `rctx`): the subject token's claims as `claims`, and the request's
// request_context and request_details objects
// (draft-ietf-oauth-transaction-tokens-10), empty when not sent.
func NewTxnEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("request_context", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("request_details", cel.MapType(cel.StringType, cel.DynType)),
	)
}
