package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"

	"github.com/tokex/tokex/internal/condition"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/issuer"
)

// Rule is one compiled exchange rule.
type Rule struct {
	Name     string
	Audience string
	Scopes   []string
	Lifetime time.Duration
	Clients  []string
	Issuers  []string
	require  cel.Program
	// Actor is the rule's delegation policy (RFC 8693 §1.1); never nil.
	Actor *Actor
	// AllowUnauthenticated: callers without client credentials may use the rule.
	AllowUnauthenticated bool
}

type key struct{ client, issuer, audience string }
type pair struct{ client, issuer string }

// Policy is the compiled, immutable policy.
type Policy struct {
	Source      *config.Policy
	MaxLifetime time.Duration
	Rules       []*Rule
	Warnings    []string
	// MaxDelegationDepth bounds the act chain of minted tokens (RFC 8693 §4.1).
	MaxDelegationDepth int
	// Unauthenticated: some rule serves callers without client credentials.
	Unauthenticated bool
	index           map[key]*Rule
	byPair          map[pair][]*Rule
}

// Request is what the client asked for.
type Request struct {
	ClientID string
	Audience string // the requested audience or resource; "" if none
	Scopes   []string
}

// Grant is what the policy allows: the input of the minter and the audit event.
type Grant struct {
	Rule     string
	Audience string
	Scopes   []string
	Lifetime time.Duration
	Actor    *Actor // the rule's delegation policy; nil only in a refused grant
}

// Kind classifies a refusal by the policy.
type Kind int

// Refusal kinds.
const (
	NoRule    Kind = iota + 1 // RFC 8707 §2 / RFC 8693 §2.2.2: invalid_target
	Condition                 // the rule's condition is false: invalid_request
	Scope                     // nothing grantable: invalid_scope
)

// Error is a refusal by the policy; Description is safe for clients.
type Error struct {
	Kind        Kind
	Rule        string
	Description string
	Err         error
}

func (e *Error) Error() string { return e.Description }
func (e *Error) Unwrap() error { return e.Err }

// Compile validates p and builds the indexed policy.
func Compile(p *config.Policy) (*Policy, error) {
	// Validate reports every problem, CEL conditions included.
	if err := p.Validate(); err != nil {
		return nil, err
	}
	ps := config.NewProblems(p.Lines)
	env, err := condition.NewEnv()
	if err != nil {
		return nil, err
	}
	out := &Policy{
		Source:             p,
		MaxLifetime:        p.Token.MaxLifetime.D(),
		MaxDelegationDepth: p.Token.DelegationDepth(),
		index:              map[key]*Rule{},
		byPair:             map[pair][]*Rule{},
	}
	for i, rc := range p.Rules {
		r := &Rule{
			// Copies: the compiled policy must not change when its source does.
			Name: rc.Name, Audience: rc.Audience, Scopes: slices.Clone(rc.Scopes),
			Clients: slices.Clone(rc.Clients), Issuers: slices.Clone(rc.Issuers),
			Lifetime: p.Token.DefaultLifetime.D(),
		}
		if rc.Lifetime != nil {
			r.Lifetime = rc.Lifetime.D()
		}
		if strings.TrimSpace(rc.Require) != "" {
			prg, err := condition.Compile(env, rc.Require)
			if err != nil {
				ps.Add(fmt.Sprintf("rules[%d].require", i), "%v", err)
			}
			r.require = prg
		}
		var err error
		if r.Actor, err = compileActor(rc); err != nil {
			ps.Add(fmt.Sprintf("rules[%d].actor_require", i), "%v", err)
		}
		out.Rules = append(out.Rules, r)
		clients := r.Clients
		if rc.AllowUnauthenticated {
			// Unauthenticated callers are looked up as client "".
			r.AllowUnauthenticated, clients = true, []string{""}
			out.Unauthenticated = true
		}
		for _, c := range clients {
			for _, is := range r.Issuers {
				k := key{c, is, r.Audience}
				if prev, ok := out.index[k]; ok {
					// SPEC §3: first match wins; say so rather than hide it.
					out.Warnings = append(out.Warnings, fmt.Sprintf("rules[%d] (%s): client %q, issuer %q, audience %q is already matched by rule %q, which wins", i, r.Name, c, is, r.Audience, prev.Name))
					continue
				}
				out.index[k] = r
				out.byPair[pair{c, is}] = append(out.byPair[pair{c, is}], r)
			}
		}
	}
	if err := ps.Err(p.File); err != nil {
		return nil, err
	}
	return out, nil
}

// Lookup finds the rule for (client, issuer, audience). With no audience, the
// client's only rule for that issuer is used; several are ambiguous.
func (p *Policy) Lookup(client, issuerName, audience string) (*Rule, error) {
	if audience != "" {
		if r, ok := p.index[key{client, issuerName, audience}]; ok {
			return r, nil
		}
		return nil, &Error{Kind: NoRule, Description: fmt.Sprintf("no rule lets client %q exchange tokens of issuer %q for audience %q", client, issuerName, clip(audience))}
	}
	switch rs := p.byPair[pair{client, issuerName}]; len(rs) {
	case 1:
		return rs[0], nil
	case 0:
		return nil, &Error{Kind: NoRule, Description: fmt.Sprintf("no rule lets client %q exchange tokens of issuer %q", client, issuerName)}
	default:
		return nil, &Error{Kind: NoRule, Description: fmt.Sprintf("client %q has %d rules for issuer %q: name the target with the audience or resource parameter", client, len(rs), issuerName)}
	}
}

// Evaluate decides one exchange: rule, condition, scopes and lifetime (SPEC §5
// steps 3 and 4). The lifetime is also capped by the subject token's expiry by
// the caller, who knows the clock.
func (p *Policy) Evaluate(ctx context.Context, pr *issuer.Principal, req Request) (Grant, error) {
	r, err := p.Lookup(req.ClientID, pr.Issuer, req.Audience)
	if err != nil {
		return Grant{}, err
	}
	if r.require != nil {
		ok, err := r.eval(ctx, pr)
		if !ok {
			// Name the rule, never the condition's contents.
			return Grant{Rule: r.Name}, &Error{Kind: Condition, Rule: r.Name, Err: err,
				Description: fmt.Sprintf("the subject token does not meet the condition of rule %q", r.Name)}
		}
	}
	// A copy: the grant is the caller's to keep or change; the rule is shared.
	scopes := slices.Clone(r.Scopes)
	if len(req.Scopes) > 0 {
		scopes = make([]string, 0, len(req.Scopes))
		for _, s := range req.Scopes {
			if slices.Contains(r.Scopes, s) && !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
		if len(scopes) == 0 {
			return Grant{Rule: r.Name}, &Error{Kind: Scope, Rule: r.Name,
				Description: fmt.Sprintf("none of the requested scopes is allowed by rule %q (it allows: %s)", r.Name, strings.Join(r.Scopes, " "))}
		}
	}
	return Grant{Rule: r.Name, Audience: r.Audience, Scopes: scopes, Lifetime: min(r.Lifetime, p.MaxLifetime), Actor: r.Actor}, nil
}

func (r *Rule) eval(ctx context.Context, pr *issuer.Principal) (bool, error) {
	claims, err := pr.Claims()
	if err != nil {
		return false, err
	}
	out, _, err := r.require.ContextEval(ctx, map[string]any{"claims": claims})
	if err != nil {
		// A missing claim is an error in CEL; for a condition it means "not met".
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("condition gave %T, not a boolean", out.Value())
	}
	return b, nil
}

func clip(s string) string {
	if len(s) > 128 {
		return s[:128] + "..."
	}
	return s
}
