package policy

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"cel.dev/cel-go/cel"

	"github.com/tokex/tokex/internal/condition"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/jws"
	"github.com/tokex/tokex/internal/principal"
)

// TxnTokenIssuer is the issuer name of a Txn-Token presented for
// replacement: tokex itself. It cannot be the name of a configured issuer
// (names have no ':').
const TxnTokenIssuer = "tokex:txn_token"

// txnRule is what a txn_token rule adds (draft-ietf-oauth-transaction-tokens-10).
type txnRule struct {
	tctx, rctx      []mappedClaim
	maxReplacements int
}

// jagTarget is the resource authorization server of one compiled id_jag
// rule (draft-ietf-oauth-identity-assertion-authz-grant-04).
type jagTarget struct {
	clientID  string
	resources []string
}

// expand builds the compiled rules of rc: one, or one per authorization
// server of an id_jag rule. Lifetimes default per profile.
func expand(rc config.Rule, defaultLifetime time.Duration) []*Rule {
	base := Rule{
		// Copies: the compiled policy must not change when its source does.
		Name: rc.Name, Audience: rc.Audience, Scopes: slices.Clone(rc.Scopes),
		Clients: slices.Clone(rc.Clients), Issuers: slices.Clone(rc.Issuers),
		Lifetime: defaultLifetime,
		Binding:  Binding{Constraint: cmp.Or(rc.SenderConstraint, config.SenderConstraintNone), BoundSubject: cmp.Or(rc.BoundSubject, config.BoundSubjectProve)},
		Profile:  rc.ProfileName(),
	}
	if base.Profile == config.ProfileTxnToken {
		base.Audience, base.Lifetime = rc.TrustDomain, config.DefaultTxnLifetime
	}
	if rc.Lifetime != nil {
		base.Lifetime = rc.Lifetime.D()
	}
	if base.Profile != config.ProfileIDJAG {
		r := base
		return []*Rule{&r}
	}
	out := make([]*Rule, len(rc.AuthorizationServers))
	for i, as := range rc.AuthorizationServers {
		r := base
		r.Clients, r.Issuers = slices.Clone(base.Clients), slices.Clone(base.Issuers)
		r.Audience, r.Scopes = as.Issuer, slices.Clone(as.Scopes)
		r.jag = &jagTarget{clientID: as.ClientID, resources: slices.Clone(as.Resources)}
		out[i] = &r
	}
	return out
}

// txnEnv is the CEL environment of a txn_token rule; nil after reporting a
// problem.
func txnEnv(ps *config.Problems, at string) *cel.Env {
	env, err := condition.NewTxnEnv()
	if err != nil {
		ps.Add(at, "cannot build the CEL environment: %v", err)
		return nil
	}
	return env
}

func (r *Rule) compileTxn(ps *config.Problems, at string, rc config.Rule, env *cel.Env) {
	r.txn = &txnRule{maxReplacements: rc.MaxReplacements}
	if env == nil {
		return
	}
	for field, src := range map[string]map[string]string{"tctx": rc.Tctx, "rctx": rc.Rctx} {
		var out []mappedClaim
		for _, name := range slices.Sorted(maps.Keys(src)) {
			prg, err := condition.CompileValue(env, src[name])
			if err != nil {
				ps.Add(at+"."+field+"."+name, "%v", err)
				continue
			}
			out = append(out, mappedClaim{name: name, prg: prg})
		}
		if field == "tctx" {
			r.txn.tctx = out
		} else {
			r.txn.rctx = out
		}
	}
}

// txnVars are the variables of a txn_token rule's expressions.
func txnVars(pr *principal.Principal, req Request) (map[string]any, error) {
	claims, err := pr.Claims()
	if err != nil {
		return nil, err
	}
	// Not sent: empty, so has() and "in" work.
	return map[string]any{"claims": claims, "request_context": orEmpty(req.Context), "request_details": orEmpty(req.Details)}, nil
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// ProfileGrant adds what the rule's profile puts in the grant.
func (r *Rule) ProfileGrant(ctx context.Context, pr *principal.Principal, req Request, g *Grant) error {
	switch {
	case r.txn != nil:
		g.MaxReplacements = r.txn.maxReplacements
		if pr.Issuer == TxnTokenIssuer {
			// A replacement keeps the context of the token it replaces.
			return nil
		}
		vars, err := txnVars(pr, req)
		if err != nil {
			return &Error{Kind: Mapping, Rule: r.Name, Err: err, Description: fmt.Sprintf("the claims of the subject token cannot be read for rule %q", r.Name)}
		}
		if g.Tctx, err = r.buildContext(ctx, "tctx", r.txn.tctx, vars); err != nil {
			return err
		}
		g.Rctx, err = r.buildContext(ctx, "rctx", r.txn.rctx, vars)
		return err
	case r.jag != nil:
		g.ClientID = r.jag.clientID
		if req.Resource != "" {
			if !slices.Contains(r.jag.resources, req.Resource) {
				return &Error{Kind: NoRule, Rule: r.Name, Description: fmt.Sprintf("rule %q does not allow resource %q at authorization server %q (it allows: %s)",
					r.Name, jws.Clip(req.Resource), r.Audience, listOrNone(r.jag.resources))}
			}
			g.Resource = req.Resource
		}
	}
	return nil
}

// buildContext computes the members of tctx or rctx the rule names, as
// claim mapping does: nothing else passes through.
func (r *Rule) buildContext(ctx context.Context, field string, members []mappedClaim, vars map[string]any) (map[string]any, error) {
	return r.evalMembers(ctx, members, vars, func(name string) string {
		return fmt.Sprintf("%s member %q of rule %q cannot be computed from the subject token and the request", field, name, r.Name)
	})
}

// IsTxn reports whether the rule mints Txn-Tokens.
func (r *Rule) IsTxn() bool { return r.txn != nil }

// TargetName names what a profile's aud is, for messages.
func TargetName(profile string) string {
	switch profile {
	case config.ProfileTxnToken:
		return "trust domain"
	case config.ProfileIDJAG:
		return "authorization server"
	}
	return "audience"
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "no resource parameter"
	}
	return fmt.Sprint(s)
}
