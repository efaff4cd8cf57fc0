package policy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"

	"github.com/tokex/tokex/internal/condition"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/jws"
	"github.com/tokex/tokex/internal/principal"
)

// mappedClaim is one entry of a rule's `claims:`.
type mappedClaim struct {
	name string
	prg  cel.Program
}

// compileMapping compiles a rule's claims and scope_conditions. Validate has
// already checked them; problems here are reported the same way regardless.
func (r *Rule) compileMapping(ps *config.Problems, at string, rc config.Rule, env *cel.Env) {
	for _, name := range slices.Sorted(maps.Keys(rc.Claims)) {
		prg, err := condition.CompileValue(env, rc.Claims[name])
		if err != nil {
			ps.Add(at+".claims."+name, "%v", err)
			continue
		}
		r.claims = append(r.claims, mappedClaim{name: name, prg: prg})
	}
	for _, scope := range slices.Sorted(maps.Keys(rc.ScopeConditions)) {
		prg, err := condition.Compile(env, rc.ScopeConditions[scope])
		if err != nil {
			ps.Add(at+".scope_conditions."+scope, "%v", err)
			continue
		}
		if r.scopeConds == nil {
			r.scopeConds = map[string]cel.Program{}
		}
		r.scopeConds[scope] = prg
	}
}

// GrantScopes downscopes (SPEC §5 step 4): the requested scopes the rule
// allows (all of its scopes when none is requested), less those whose scope
// condition does not hold for the subject. withheld lists the scopes a
// condition took away. Nothing left is a Scope refusal.
func (r *Rule) GrantScopes(ctx context.Context, pr *principal.Principal, requested []string) (granted, withheld []string, err error) {
	// A copy: the grant is the caller's to keep or change; the rule is shared.
	cand := slices.Clone(r.Scopes)
	var notAllowed []string
	if len(requested) > 0 {
		// One map lookup per requested scope: the cost is linear in the
		// request (scope.Parse caps its length and drops duplicates; taken
		// keeps a repeated scope out of the grant all the same).
		cand = make([]string, 0, min(len(requested), len(r.Scopes)))
		taken := make([]bool, len(r.Scopes))
		for _, s := range requested {
			switch i, ok := r.scopeIndex[s]; {
			case !ok:
				notAllowed = append(notAllowed, s)
			case !taken[i]:
				taken[i] = true
				cand = append(cand, s)
			}
		}
		if len(cand) == 0 {
			return nil, nil, &Error{Kind: Scope, Rule: r.Name,
				Description: fmt.Sprintf("none of the requested scopes is allowed by rule %q (it allows: %s)", r.Name, strings.Join(r.Scopes, " "))}
		}
	}
	if r.scopeConds == nil {
		return cand, nil, nil
	}
	granted = cand[:0:0]
	for _, s := range cand {
		prg, ok := r.scopeConds[s]
		if !ok {
			granted = append(granted, s)
			continue
		}
		// A condition that cannot be evaluated (a missing claim) is not met.
		if ok, _ := evalBool(ctx, prg, pr); ok {
			granted = append(granted, s)
		} else {
			withheld = append(withheld, s)
		}
	}
	if len(granted) == 0 {
		desc := fmt.Sprintf("rule %q grants none of the scopes: the subject does not meet the scope conditions for %s", r.Name, strings.Join(withheld, " "))
		if len(notAllowed) > 0 {
			desc += fmt.Sprintf("; not allowed by the rule: %s", jws.Clip(strings.Join(notAllowed, " ")))
		}
		return nil, withheld, &Error{Kind: Scope, Rule: r.Name, Description: desc}
	}
	return granted, withheld, nil
}

// HasScopeCondition reports whether scope is subject to a scope condition.
func (r *Rule) HasScopeCondition(scope string) bool {
	_, ok := r.scopeConds[scope]
	return ok
}

// MapClaims computes the rule's `claims:` for the subject. A claim whose
// expression reads a claim the token lacks, or gives null, is omitted (a
// mapping of an optional claim); any other failure refuses the exchange,
// naming the rule and the claim but never the expression.
func (r *Rule) MapClaims(ctx context.Context, pr *principal.Principal) (map[string]any, error) {
	if len(r.claims) == 0 {
		return nil, nil
	}
	src, err := pr.Claims()
	if err != nil {
		return nil, &Error{Kind: Mapping, Rule: r.Name, Err: err,
			Description: fmt.Sprintf("the claims of the subject token cannot be read for rule %q", r.Name)}
	}
	return r.evalMembers(ctx, r.claims, map[string]any{"claims": src}, func(name string) string {
		return fmt.Sprintf("claim %q of rule %q cannot be computed from the subject token's claims", name, r.Name)
	})
}

// evalMembers computes named values (mapped claims, tctx or rctx members):
// an expression that reads what its input lacks, or gives null, leaves its
// member out; any other failure refuses, described by what (never with the
// expression). Nothing is left: nil.
func (r *Rule) evalMembers(ctx context.Context, members []mappedClaim, vars map[string]any, what func(name string) string) (map[string]any, error) {
	out := make(map[string]any, len(members))
	for _, m := range members {
		v, err := condition.EvalVars(ctx, m.prg, vars)
		switch {
		case errors.Is(err, condition.ErrNoSuchKey):
			continue
		case err != nil:
			return nil, &Error{Kind: Mapping, Rule: r.Name, Err: err, Description: what(m.name)}
		case v == nil:
			continue
		}
		out[m.name] = v
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// MappedClaims are the names of the claims the rule maps, sorted.
func (r *Rule) MappedClaims() []string {
	names := make([]string, len(r.claims))
	for i, c := range r.claims {
		names[i] = c.name
	}
	return names
}
