package exchange

import (
	"context"
	"errors"
	"fmt"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/client"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/jws"
	"github.com/tokex/tokex/internal/mint"
	"github.com/tokex/tokex/internal/policy"
)

// delegate decides the act claim of the minted token (RFC 8693 §1.1, §4.1).
// Without an actor token the exchange is impersonation: the subject's own
// chain, if its token has one, is carried over unchanged (a chain is never
// dropped); with one, the actor is validated like a subject token, checked
// against the rule, the subject's may_act and actor_require, and becomes the
// current actor with the subject's chain nested inside.
func (s *Service) delegate(ctx context.Context, st *State, f *issuerForm, pr *issuer.Principal, g policy.Grant) (*mint.Act, error) {
	a := g.Actor
	if f.actorToken == "" && !pr.HasAct {
		// Impersonation of an undelegated subject, the common case: nothing
		// to decode.
		if a.Mode == config.DelegationRequired {
			return nil, refuse(api.ErrInvalidRequest, "delegation_required", "rule %q requires delegation: send actor_token and actor_token_type naming who acts for the subject", g.Rule)
		}
		return nil, nil
	}
	claims, err := pr.Claims()
	if err != nil {
		return nil, refuse(api.ErrInvalidRequest, string(issuer.ReasonMalformed), "subject_token: the claims cannot be decoded")
	}
	max := st.Policy.MaxDelegationDepth
	prior, err := chain(claims["act"], max)
	if err != nil {
		return nil, err
	}
	if f.actorToken == "" {
		if a.Mode == config.DelegationRequired {
			return nil, refuse(api.ErrInvalidRequest, "delegation_required", "rule %q requires delegation: send actor_token and actor_token_type naming who acts for the subject", g.Rule)
		}
		return prior, nil
	}
	if a.Mode != config.DelegationAllowed && a.Mode != config.DelegationRequired {
		return nil, refuse(api.ErrInvalidRequest, "delegation_forbidden", "rule %q forbids delegation: send the request without actor_token", g.Rule)
	}
	if f.actorTokenType == "" {
		// RFC 8693 §2.1: actor_token_type is REQUIRED when actor_token is present.
		return nil, refuse(api.ErrInvalidRequest, "missing_parameter", "actor_token_type is required with actor_token")
	}
	tt, ok := tokenTypes[f.actorTokenType]
	if !ok {
		return nil, refuse(api.ErrInvalidRequest, "unsupported_token_type", "actor_token_type %q is not supported; use %s, %s or %s",
			jws.Clip(f.actorTokenType), api.TokenTypeAccessToken, api.TokenTypeJWT, api.TokenTypeIDToken)
	}
	actor, err := s.validateActor(ctx, st, f.actorToken, tt)
	if err != nil {
		return nil, err
	}
	if !a.Trusts(actor.Issuer) {
		return nil, refuse(api.ErrInvalidRequest, "actor_issuer_not_trusted", "actor_token: issuer %q is not trusted for actor tokens by rule %q", actor.Issuer, g.Rule)
	}
	// An actor that is the subject itself adds no party to the chain: it only
	// turns an impersonation the rule may forbid into a delegation.
	if !a.AllowSelf && (f.actorToken == f.subjectToken || (actor.IssuerURL == pr.IssuerURL && actor.Subject == pr.Subject)) {
		return nil, refuse(api.ErrInvalidRequest, "self_delegation", "actor_token: the actor is the subject itself (same token, or the same iss and sub); rule %q does not allow self-delegation (allow_self_delegation)", g.Rule)
	}
	// RFC 8693 §4.4: when the subject names who may act for it, the actor must
	// be that party.
	if m, ok := claims["may_act"]; ok {
		if err := mayAct(m, actor); err != nil {
			return nil, err
		}
	}
	if a.HasCondition() {
		ac, err := actor.Claims()
		var ok bool
		if err == nil {
			ok, err = a.Check(ctx, ac, claims)
		}
		if !ok {
			return nil, &Error{Code: api.ErrInvalidRequest, Reason: "actor_condition_not_met", Err: err,
				Description: fmt.Sprintf("the actor token does not meet the actor condition of rule %q", g.Rule)}
		}
	}
	act := &mint.Act{Sub: actor.Subject, Iss: actor.IssuerURL, Act: prior}
	if d := act.Depth(); d > max {
		return nil, refuse(api.ErrInvalidRequest, "delegation_too_deep", "the delegation chain would be %d actors deep; at most %d are allowed (token.max_delegation_depth)", d, max)
	}
	return act, nil
}

// issuerForm is what delegate reads of the request.
type issuerForm struct{ subjectToken, actorToken, actorTokenType string }

func (s *Service) validateActor(ctx context.Context, st *State, raw, tokenType string) (*issuer.Principal, error) {
	ctx, span := s.step(ctx, "tokex.actor_validation")
	defer span.End()
	p, err := st.Issuers.Verify(ctx, raw, tokenType)
	if err != nil {
		var ie *issuer.Error
		if !errors.As(err, &ie) {
			return nil, fail(span, &Error{Code: api.ErrServerError, Reason: "internal", Description: "internal error", Err: err})
		}
		return nil, fail(span, tokenError(ie, "actor_token", "actor_"))
	}
	return p, nil
}

// chain reads the subject token's act claim into the chain the minted token
// carries: only sub and iss of each actor (RFC 8693 §4.1: other claims of act
// are not meaningful), at most max deep.
func chain(v any, max int) (*mint.Act, error) {
	if v == nil {
		return nil, nil
	}
	var head *mint.Act
	next := &head
	for depth := 0; v != nil; depth++ {
		m, ok := v.(map[string]any)
		sub, _ := m["sub"].(string)
		if !ok || sub == "" {
			return nil, refuse(api.ErrInvalidRequest, "malformed_act", "subject_token: the act claim must be an object with a sub at every level (RFC 8693 §4.1)")
		}
		if depth >= max {
			return nil, refuse(api.ErrInvalidRequest, "delegation_too_deep", "subject_token: its delegation chain is more than %d actors deep (token.max_delegation_depth)", max)
		}
		iss, _, ok := optString(m, "iss")
		if !ok {
			return nil, refuse(api.ErrInvalidRequest, "malformed_act", "subject_token: iss in the act claim must be a string (RFC 8693 §4.1)")
		}
		*next = &mint.Act{Sub: sub, Iss: iss}
		next = &(*next).Act
		v = m["act"]
	}
	return head, nil
}

// mayAct checks the actor against the subject token's may_act claim (RFC 8693
// §4.4): sub must match, and iss where may_act names one.
func mayAct(v any, actor *issuer.Principal) error {
	m, ok := v.(map[string]any)
	sub, _ := m["sub"].(string)
	if !ok || sub == "" {
		return refuse(api.ErrInvalidRequest, "malformed_may_act", "subject_token: the may_act claim must be an object with a sub (RFC 8693 §4.4)")
	}
	iss, hasIss, ok := optString(m, "iss")
	if !ok {
		// A malformed may_act is refused, never ignored: skipping its iss
		// would let any issuer's actor with that sub act.
		return refuse(api.ErrInvalidRequest, "malformed_may_act", "subject_token: iss in the may_act claim must be a string (RFC 8693 §4.4)")
	}
	if sub != actor.Subject || (hasIss && iss != actor.IssuerURL) {
		return refuse(api.ErrInvalidRequest, "may_act_mismatch", "the actor is not the party the subject token's may_act claim authorizes to act for it (RFC 8693 §4.4)")
	}
	return nil
}

// optString is the optional member name of m. ok is false when it is present
// but not a string (null included): a malformed member is refused, never
// skipped.
func optString(m map[string]any, name string) (s string, present, ok bool) {
	v, present := m[name]
	if !present {
		return "", false, true
	}
	s, ok = v.(string)
	return s, true, ok
}

// unauthenticated turns "no rule" for a caller without client credentials
// into invalid_client: only rules with allow_unauthenticated serve such
// callers, and everything else needs client authentication.
func unauthenticated(cl *client.Client, err error) error {
	var xe *Error
	if cl.Method != api.AuthMethodNone || !errors.As(err, &xe) || xe.Reason != "no_rule" {
		return err
	}
	return &Error{Code: api.ErrInvalidClient, Reason: "client_auth_required", BasicChallenge: true,
		Description: "client authentication is required: no rule serves unauthenticated callers for this issuer and audience"}
}

// publicClientID is the client_id claim (RFC 9068 §2.2) of a token minted for
// an unauthenticated caller: the subject token's own client (azp, client_id,
// appid), else the rule's name.
func publicClientID(pr *issuer.Principal, g policy.Grant) string {
	if pr.ClientID != "" {
		return pr.ClientID
	}
	return g.Rule
}

func errorsCause(ce *client.Error) error {
	if ce == nil {
		return nil
	}
	return ce.Err
}
