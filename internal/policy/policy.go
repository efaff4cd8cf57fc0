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
	// Profile is what the rule mints (config.Profile*); never "".
	Profile string
	// txn: a txn_token rule's context and replacement limit (profile.go).
	txn *txnRule
	// jag: the authorization server an id_jag rule's Audience names.
	jag *jagTarget
}

// Binding is a rule's sender-constraint policy.
type Binding struct {
	Constraint   string // config.SenderConstraint*; never ""
	BoundSubject string // config.BoundSubject*; never ""
}

type key struct{ client, issuer, audience, profile string }
type pair struct{ client, issuer, profile string }

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
	// Profile is the kind of token asked for (config.Profile*); "": an
	// access token. Rules of another profile never match.
	Profile string
	// Resource is an ID-JAG request's resource (RFC 8707), "" if none.
	Resource string
	// Context and Details are a Txn-Token request's request_context and
	// request_details objects; nil when not sent.
	Context, Details map[string]any
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
	Profile  string         // config.Profile*
	// Txn-Token: the transaction and request context built by the rule, and
	// how many replacements it allows.
	Tctx, Rctx      map[string]any
	MaxReplacements int
	// ID-JAG: the caller's client_id at the resource authorization server
	// and the resource asked for.
	ClientID, Resource string
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
		// An id_jag rule is one compiled rule per authorization server, so
		// that lookup and downscoping work as for any other audience.
		for _, r := range expand(rc, p.Token.DefaultLifetime.D()) {
			out.compileRule(ps, env, i, rc, r)
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

// compileRule compiles r, the rule (or one authorization server of the
// rule) at rules[i], and indexes it.
func (out *Policy) compileRule(ps *config.Problems, env *cel.Env, i int, rc config.Rule, r *Rule) {
	at := fmt.Sprintf("rules[%d]", i)
	r.scopeIndex = make(map[string]int, len(r.Scopes))
	for j, sc := range r.Scopes {
		r.scopeIndex[sc] = j
	}
	condEnv := env
	if r.Profile == config.ProfileTxnToken {
		condEnv = txnEnv(ps, at)
		r.compileTxn(ps, at, rc, condEnv)
	}
	if strings.TrimSpace(rc.Require) != "" && condEnv != nil {
		prg, err := condition.Compile(condEnv, rc.Require)
		if err != nil {
			ps.Add(at+".require", "%v", err)
		}
		r.require = prg
	}
	r.compileMapping(ps, at, rc, env)
	var err error
	if r.Actor, err = compileActor(rc); err != nil {
		ps.Add(at+".actor_require", "%v", err)
	}
	out.Rules = append(out.Rules, r)
	clients := r.Clients
	if rc.AllowUnauthenticated {
		// Unauthenticated callers are looked up as client "".
		r.AllowUnauthenticated, clients = true, []string{""}
		out.Unauthenticated = true
	}
	issuers := r.Issuers
	if r.txn != nil && r.txn.maxReplacements > 0 {
		// The rule also replaces Txn-Tokens of its trust domain.
		issuers = append(slices.Clip(issuers), TxnTokenIssuer)
	}
	for _, c := range clients {
		for _, is := range issuers {
			k := key{c, is, r.Audience, r.Profile}
			if prev, ok := out.index[k]; ok {
				// SPEC §3: first match wins; say so rather than hide it.
				out.Warnings = append(out.Warnings, fmt.Sprintf("%s (%s): client %q, issuer %q, audience %q is already matched by rule %q, which wins", at, r.Name, c, is, r.Audience, prev.Name))
				continue
			}
			out.index[k] = r
			pk := pair{c, is, r.Profile}
			out.byPair[pk] = append(out.byPair[pk], r)
		}
	}
}

// Lookup finds the access-token rule for (client, issuer, audience); see
// LookupProfile.
func (p *Policy) Lookup(client, issuerName, audience string) (*Rule, error) {
	return p.LookupProfile(client, issuerName, audience, config.ProfileAccessToken)
}

// LookupProfile finds the rule of a profile for (client, issuer, audience).
// With no audience, the client's only rule for that issuer is used; several
// are ambiguous.
func (p *Policy) LookupProfile(client, issuerName, audience, profile string) (*Rule, error) {
	profile = cmp.Or(profile, config.ProfileAccessToken)
	what := ""
	if profile != config.ProfileAccessToken {
		what = " (rules of profile " + profile + ")"
	}
	if audience != "" {
		if r, ok := p.index[key{client, issuerName, audience, profile}]; ok {
			return r, nil
		}
		return nil, &Error{Kind: NoRule, Description: fmt.Sprintf("no rule%s lets client %q exchange tokens of issuer %q for %s %q", what, client, issuerName, TargetName(profile), jws.Clip(audience))}
	}
	switch rs := p.byPair[pair{client, issuerName, profile}]; len(rs) {
	case 1:
		return rs[0], nil
	case 0:
		return nil, &Error{Kind: NoRule, Description: fmt.Sprintf("no rule%s lets client %q exchange tokens of issuer %q", what, client, issuerName)}
	default:
		return nil, &Error{Kind: NoRule, Description: fmt.Sprintf("client %q has %d rules%s for issuer %q: name the target with the audience or resource parameter", client, len(rs), what, issuerName)}
	}
}

// Evaluate decides one exchange: rule, condition, scopes and lifetime (SPEC §5
// steps 3 and 4). The lifetime is also capped by the subject token's expiry by
// the caller, who knows the clock.
func (p *Policy) Evaluate(ctx context.Context, pr *principal.Principal, req Request) (Grant, error) {
	r, err := p.LookupProfile(req.ClientID, pr.Issuer, req.Audience, req.Profile)
	if err != nil {
		return Grant{}, err
	}
	if err := r.ConditionFor(ctx, pr, req); err != nil {
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
	g := Grant{Rule: r.Name, Audience: r.Audience, Scopes: scopes, Lifetime: p.RuleLifetime(r), Claims: claims, Actor: r.Actor, Binding: r.Binding, Profile: r.Profile}
	if err := r.ProfileGrant(ctx, pr, req, &g); err != nil {
		return Grant{Rule: r.Name}, err
	}
	return g, nil
}

// RuleLifetime is the lifetime of r's tokens: its own, capped by max_lifetime.
func (p *Policy) RuleLifetime(r *Rule) time.Duration { return min(r.Lifetime, p.MaxLifetime) }

// Condition checks the rule's `require` (SPEC §5 step 3): nil when there is
// none or it holds.
func (r *Rule) Condition(ctx context.Context, pr *principal.Principal) error {
	return r.ConditionFor(ctx, pr, Request{})
}

// ConditionFor is Condition for a request: a Txn-Token rule's condition
// also reads request_context and request_details.
func (r *Rule) ConditionFor(ctx context.Context, pr *principal.Principal, req Request) error {
	if r.require == nil {
		return nil
	}
	ok, err := r.eval(ctx, pr, req)
	if !ok {
		// Name the rule, never the condition's contents.
		return &Error{Kind: Condition, Rule: r.Name, Err: err,
			Description: fmt.Sprintf("the subject token does not meet the condition of rule %q", r.Name)}
	}
	return nil
}

// HasCondition reports whether the rule has a `require` condition.
func (r *Rule) HasCondition() bool { return r.require != nil }

func (r *Rule) eval(ctx context.Context, pr *principal.Principal, req Request) (bool, error) {
	if r.txn != nil {
		vars, err := txnVars(pr, req)
		if err != nil {
			return false, err
		}
		return condition.EvalBoolVars(ctx, r.require, vars)
	}
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
