package policy

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"

	"github.com/tokex/tokex/internal/condition"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/jws"
	"github.com/tokex/tokex/internal/principal"
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
	// claims (sorted by name) and scope conditions: see mapping.go.
	claims     []mappedClaim
	scopeConds map[string]cel.Program
	scopeIndex map[string]int // position of each of Scopes: downscoping is linear
	// Actor is the rule's delegation policy (RFC 8693 §1.1); never nil.
	Actor *Actor
	// AllowUnauthenticated: callers without client credentials may use the rule.
	AllowUnauthenticated bool
	// Binding is what the rule asks of sender constraint (RFC 9449, RFC 8705).
	Binding Binding
}

// Binding is a rule's sender-constraint policy.
type Binding struct {
	Constraint   string // config.SenderConstraint*; never ""
	BoundSubject string // config.BoundSubject*; never ""
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
	// dpopNonce: clients whose dpop_nonce says whether they must send DPoP
	// nonces; the others follow dpopNonceAll (dpop.nonce).
	dpopNonce    map[string]bool
	dpopNonceAll bool
}

// DPoPNonceRequired reports whether client id must send a server nonce in
// its DPoP proofs (RFC 9449 §8): its dpop_nonce, else dpop.nonce.
func (p *Policy) DPoPNonceRequired(id string) bool {
	if v, ok := p.dpopNonce[id]; ok {
		return v
	}
	return p.dpopNonceAll
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
	Claims   map[string]any // claims mapped by the rule's `claims:`; nil if none
	Actor    *Actor         // the rule's delegation policy; nil only in a refused grant
	Binding  Binding        // the rule's sender-constraint policy
}

// Kind classifies a refusal by the policy.
type Kind int

// Refusal kinds.
const (
	NoRule    Kind = iota + 1 // RFC 8707 §2 / RFC 8693 §2.2.2: invalid_target
	Condition                 // the rule's condition is false: invalid_request
	Scope                     // nothing grantable: invalid_scope
	Mapping                   // a mapped claim cannot be computed: invalid_request
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
		dpopNonce:          map[string]bool{},
		dpopNonceAll:       p.DPoP != nil && p.DPoP.Nonce == config.DPoPNonceRequired,
	}
	for _, c := range p.Clients {
		if c.DPoPNonce != "" {
			out.dpopNonce[c.ID] = c.DPoPNonce == config.DPoPNonceRequired
		}
	}
	for i, rc := range p.Rules {
		r := &Rule{
			// Copies: the compiled policy must not change when its source does.
			Name: rc.Name, Audience: rc.Audience, Scopes: slices.Clone(rc.Scopes),
			Clients: slices.Clone(rc.Clients), Issuers: slices.Clone(rc.Issuers),
			Lifetime: p.Token.DefaultLifetime.D(),
			Binding:  Binding{Constraint: cmp.Or(rc.SenderConstraint, config.SenderConstraintNone), BoundSubject: cmp.Or(rc.BoundSubject, config.BoundSubjectProve)},
		}
		if rc.Lifetime != nil {
			r.Lifetime = rc.Lifetime.D()
		}
		r.scopeIndex = make(map[string]int, len(r.Scopes))
		for j, sc := range r.Scopes {
			r.scopeIndex[sc] = j
		}
		if strings.TrimSpace(rc.Require) != "" {
			prg, err := condition.Compile(env, rc.Require)
			if err != nil {
				ps.Add(fmt.Sprintf("rules[%d].require", i), "%v", err)
			}
			r.require = prg
		}
		r.compileMapping(ps, fmt.Sprintf("rules[%d]", i), rc, env)
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
	if p.AllowSubjectOverlap {
		// Validate refuses these unless the operator accepted them: say so.
		for _, o := range p.SubjectOverlaps() {
			out.Warnings = append(out.Warnings, o.Path()+": "+o.Message(p)+" (accepted: allow_subject_overlap is set)")
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
		return nil, &Error{Kind: NoRule, Description: fmt.Sprintf("no rule lets client %q exchange tokens of issuer %q for audience %q", client, issuerName, jws.Clip(audience))}
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
func (p *Policy) Evaluate(ctx context.Context, pr *principal.Principal, req Request) (Grant, error) {
	r, err := p.Lookup(req.ClientID, pr.Issuer, req.Audience)
	if err != nil {
		return Grant{}, err
	}
	if err := r.Condition(ctx, pr); err != nil {
		return Grant{Rule: r.Name}, err
	}
	scopes, _, err := r.GrantScopes(ctx, pr, req.Scopes)
	if err != nil {
		return Grant{Rule: r.Name}, err
	}
	claims, err := r.MapClaims(ctx, pr)
	if err != nil {
		return Grant{Rule: r.Name}, err
	}
	return Grant{Rule: r.Name, Audience: r.Audience, Scopes: scopes, Lifetime: p.RuleLifetime(r), Claims: claims, Actor: r.Actor, Binding: r.Binding}, nil
}

// RuleLifetime is the lifetime of r's tokens: its own, capped by max_lifetime.
func (p *Policy) RuleLifetime(r *Rule) time.Duration { return min(r.Lifetime, p.MaxLifetime) }

// Condition checks the rule's `require` (SPEC §5 step 3): nil when there is
// none or it holds.
func (r *Rule) Condition(ctx context.Context, pr *principal.Principal) error {
	if r.require == nil {
		return nil
	}
	ok, err := r.eval(ctx, pr)
	if !ok {
		// Name the rule, never the condition's contents.
		return &Error{Kind: Condition, Rule: r.Name, Err: err,
			Description: fmt.Sprintf("the subject token does not meet the condition of rule %q", r.Name)}
	}
	return nil
}

// HasCondition reports whether the rule has a `require` condition.
func (r *Rule) HasCondition() bool { return r.require != nil }

func (r *Rule) eval(ctx context.Context, pr *principal.Principal) (bool, error) {
	return evalBool(ctx, r.require, pr)
}

// evalBool runs a condition over pr's claims; a missing claim is an error in
// CEL, which for a condition means "not met".
func evalBool(ctx context.Context, prg cel.Program, pr *principal.Principal) (bool, error) {
	claims, err := pr.Claims()
	if err != nil {
		return false, err
	}
	return condition.EvalBool(ctx, prg, claims)
}
