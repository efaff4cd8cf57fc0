package condition

import "cel.dev/cel-go/cel"

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
