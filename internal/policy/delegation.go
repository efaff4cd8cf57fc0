package policy

import (
	"context"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"

	"github.com/tokex/tokex/internal/condition"
	"github.com/tokex/tokex/internal/config"
)

// Actor is a rule's delegation policy (RFC 8693 §1.1): whether an actor token
// is forbidden, allowed or required, whose actor tokens are trusted, and the
// optional actor_require condition.
type Actor struct {
	Mode    string   // config.Delegation*
	Issuers []string // names of the trusted issuers of actor tokens
	// AllowSelf accepts an actor that is the subject itself.
	AllowSelf bool
	require   cel.Program
}

func compileActor(rc config.Rule) (*Actor, error) {
	a := &Actor{Mode: rc.Delegation, Issuers: slices.Clone(rc.ActorIssuers), AllowSelf: rc.AllowSelfDelegation}
	if a.Mode == "" {
		a.Mode = config.DelegationForbidden
	}
	if strings.TrimSpace(rc.ActorRequire) == "" {
		return a, nil
	}
	prg, err := condition.CompileActor(rc.ActorRequire)
	a.require = prg
	return a, err
}

// Trusts reports whether actor tokens of the named issuer are accepted.
func (a *Actor) Trusts(issuerName string) bool { return slices.Contains(a.Issuers, issuerName) }

// HasCondition reports whether the rule has an actor_require condition.
func (a *Actor) HasCondition() bool { return a.require != nil }

// Check evaluates actor_require over the actor's and the subject's claims; a
// rule without one accepts every trusted actor. An error (a missing claim, a
// non-boolean) means "not met".
func (a *Actor) Check(ctx context.Context, actor, claims map[string]any) (bool, error) {
	if a.require == nil {
		return true, nil
	}
	return condition.EvalActor(ctx, a.require, actor, claims)
}
