package exchange

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/jws"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/mint"
	"github.com/tokex/tokex/internal/policy"
	"github.com/tokex/tokex/internal/principal"
	"github.com/tokex/tokex/internal/txntoken"
)

// Profiles of a token exchange that mint something other than an access
// token: each adds its own request checks, subject rules and claims to the
// one pipeline (run).
const (
	ProfileTxnToken = config.ProfileTxnToken // draft-ietf-oauth-transaction-tokens-10
	ProfileIDJAG    = config.ProfileIDJAG    // draft-ietf-oauth-identity-assertion-authz-grant-04
)

// MaxContextBytes caps request_context and request_details: they end up in
// every Txn-Token of the call chain, and in CEL evaluation.
const MaxContextBytes = 4096

// profileRequest is what a request's requested_token_type asks for.
type profileRequest struct {
	name             string // ProfileTokenExchange, ProfileTxnToken, ProfileIDJAG
	kind             keys.Typ
	context, details map[string]any
}

// policyProfile is the rule profile that serves the request.
func (p *profileRequest) policyProfile() string {
	switch p.name {
	case ProfileTxnToken, ProfileIDJAG:
		return p.name
	}
	return config.ProfileAccessToken
}

// requestProfile reads requested_token_type and the parameters that belong
// to it; checkRequest has vetted the rest. A parameter of one profile sent
// with another is refused rather than ignored: the caller expects it to
// matter. The profile is returned with a refusal too, so that the audit
// event and the metrics name what was asked for.
func requestProfile(f *api.TokenRequest, grantProfile string) (profileRequest, error) {
	p := profileRequest{name: grantProfile} // a value: no allocation per request
	switch f.RequestedTokenType {
	case api.TokenTypeTxnToken:
		p.name, p.kind = ProfileTxnToken, keys.TypTxnToken
	case api.TokenTypeIDJAG:
		p.name, p.kind = ProfileIDJAG, keys.TypIDJAG
	}
	if p.name != ProfileTxnToken {
		switch {
		case f.RequestContext != "" || f.RequestDetails != "":
			return p, refuse(api.ErrInvalidRequest, "invalid_parameter", "request_context and request_details belong to Transaction Token requests (requested_token_type %s)", api.TokenTypeTxnToken)
		case f.SubjectTokenType == api.TokenTypeTxnToken:
			return p, refuse(api.ErrInvalidRequest, "unsupported_token_type", "a Txn-Token is exchanged only for a replacement Txn-Token (requested_token_type %s): it is never an access token or a grant", api.TokenTypeTxnToken)
		}
	}
	switch p.name {
	case ProfileTxnToken:
		if f.Scope == "" {
			return p, refuse(api.ErrInvalidRequest, "missing_parameter", "scope is required for a Txn-Token: it names the purpose of the transaction")
		}
		if f.Resource != "" {
			return p, refuse(api.ErrInvalidTarget, "invalid_parameter", "a Txn-Token is for a trust domain: name it with audience, not resource")
		}
		var err error
		if p.context, err = contextObject(api.ParamRequestContext, f.RequestContext); err != nil {
			return p, err
		}
		if p.details, err = contextObject(api.ParamRequestDetails, f.RequestDetails); err != nil {
			return p, err
		}
	case ProfileIDJAG:
		switch {
		case f.Audience == "":
			return p, refuse(api.ErrInvalidRequest, "missing_parameter", "audience is required for an ID-JAG: the issuer identifier of the resource authorization server it is for")
		case f.SubjectTokenType != api.TokenTypeIDToken:
			return p, refuse(api.ErrInvalidRequest, "unsupported_token_type", "an ID-JAG is issued for an ID token: send subject_token_type %s with an ID token issued to this client", api.TokenTypeIDToken)
		}
	}
	return p, nil
}

// contextObject reads a request_context or request_details parameter: one
// JSON object, strictly (no duplicate names, valid UTF-8), of bounded size.
func contextObject(param, raw string) (map[string]any, error) {
	if raw == "" {
		return nil, nil
	}
	if len(raw) > MaxContextBytes {
		return nil, refuse(api.ErrInvalidRequest, "invalid_parameter", "%s is %d bytes, more than the %d allowed", param, len(raw), MaxContextBytes)
	}
	if k := jsontext.Value(raw).Kind(); k != '{' {
		return nil, refuse(api.ErrInvalidRequest, "invalid_parameter", "%s must be a JSON object", param)
	}
	var m map[string]any
	if err := jsonv2.Unmarshal([]byte(raw), &m); err != nil {
		return nil, refuse(api.ErrInvalidRequest, "invalid_parameter", "%s is not a valid JSON object: %s", param, jws.Clip(err.Error()))
	}
	return m, nil
}

// target is the aud the request names: the audience or resource of an
// access token (one target: RFC 8693 §2.1), the trust domain of a Txn-Token,
// the authorization server of an ID-JAG (whose resource is its own claim).
func (p *profileRequest) target(f *api.TokenRequest) (string, error) {
	if p.name == ProfileIDJAG || p.name == ProfileTxnToken {
		return f.Audience, nil
	}
	audience := f.Audience
	if f.Resource != "" {
		if audience != "" && audience != f.Resource {
			return "", refuse(api.ErrInvalidTarget, "conflicting_target", "audience and resource name different targets; tokex issues a token for exactly one")
		}
		audience = f.Resource
	}
	return audience, nil
}

// checkSubject is the profile's rule for the validated subject: an ID-JAG
// is issued only for an ID token addressed to the authenticated client
// (draft-ietf-oauth-identity-assertion-authz-grant-04: its aud must be the
// client that presents it).
func (p *profileRequest) checkSubject(pr *principal.Principal, clientID string) error {
	if p.name == ProfileIDJAG && !slices.Contains(pr.Audience, clientID) {
		return refuse(api.ErrInvalidRequest, "id_token_not_for_client",
			"the ID token's aud (%s) does not name client %q: an ID-JAG is issued only for an ID token the identity provider issued to the client presenting it", jws.Clip(strings.Join(pr.Audience, " ")), clientID)
	}
	return nil
}

// txnState is what a Txn-Token carries from one token of a transaction to
// its replacement.
type txnState struct {
	txn        string
	reqWL      []string
	scopes     []string
	tctx, rctx map[string]any
}

// txnClaims are the claims of a Txn-Token presented for replacement.
type txnClaims struct {
	jws.Registered
	Txn   string          `json:"txn"`
	Scope string          `json:"scope"`
	ReqWL jsontext.Value  `json:"req_wl"`
	Tctx  *map[string]any `json:"tctx"`
	Rctx  *map[string]any `json:"rctx"`
}

// verifyTxnToken validates a Txn-Token tokex minted, presented for
// replacement: typ txntoken+jwt, signed by a key of tokex's published set,
// iss tokex, unexpired. The principal's issuer is policy.TxnTokenIssuer.
func (s *Service) verifyTxnToken(raw string) (*principal.Principal, *txnState, error) {
	bad := func(reason issuer.Reason, format string, args ...any) error {
		return &issuer.Error{Reason: reason, Description: fmt.Sprintf(format, args...)}
	}
	var c txnClaims
	tok, err := jws.Parse(raw, &c, nil)
	if err != nil {
		return nil, nil, bad(issuer.ReasonMalformed, "the Txn-Token is not a JWT tokex can read: %s", jws.Clip(err.Error()))
	}
	if typ, _ := tok.Header["typ"].(string); !strings.EqualFold(strings.TrimPrefix(strings.ToLower(typ), "application/"), api.TypTxnToken) {
		return nil, nil, bad(issuer.ReasonTokenType, "the token's typ is %q, not %s: only a Txn-Token can be replaced", jws.Clip(typ), api.TypTxnToken)
	}
	if s.minter == nil || c.Issuer != s.minter.Issuer() {
		return nil, nil, bad(issuer.ReasonUntrustedIssuer, "the Txn-Token's iss %q is not this server: only Txn-Tokens tokex minted can be replaced", jws.Clip(c.Issuer))
	}
	set := s.minter.Keys()
	if set == nil {
		return nil, nil, bad(issuer.ReasonKeysUnavailable, "tokex's own keys are not loaded, so the Txn-Token cannot be checked")
	}
	kid, _ := tok.Header["kid"].(string)
	alg, _ := tok.Header["alg"].(string)
	var key *keys.SigningKey
	for _, k := range set.Published() {
		if k.KID == kid && k.Alg == alg {
			key = k
		}
	}
	if key == nil || jws.Verify(tok, key.Public()) != nil {
		return nil, nil, bad(issuer.ReasonSignature, "the Txn-Token's signature does not verify with tokex's published keys")
	}
	now := s.now()
	// Replicas share one clock closely enough: exp only, no leeway.
	v := jwt.NewValidator(jwt.WithExpirationRequired(), jwt.WithTimeFunc(func() time.Time { return now }))
	if err := v.Validate(&c); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, nil, bad(issuer.ReasonExpired, "the Txn-Token has expired")
		}
		return nil, nil, bad(issuer.ReasonMalformed, "the Txn-Token's times are invalid: %s", jws.Clip(err.Error()))
	}
	st := &txnState{txn: c.Txn, scopes: strings.Fields(c.Scope)}
	if c.Tctx != nil {
		st.tctx = *c.Tctx
	}
	if c.Rctx != nil {
		st.rctx = *c.Rctx
	}
	// req_wl: one workload, or the list a replacement made.
	var ok bool
	if st.reqWL, ok = txntoken.Workloads(c.ReqWL); !ok {
		return nil, nil, bad(issuer.ReasonMalformed, "the Txn-Token's req_wl is not a workload or a list of them")
	}
	if c.Txn == "" || c.Subject == "" {
		return nil, nil, bad(issuer.ReasonMalformed, "the Txn-Token has no txn or no sub")
	}
	parts, _ := jws.Split(raw)
	pr := &principal.Principal{
		Issuer: policy.TxnTokenIssuer, IssuerURL: c.Issuer, Subject: c.Subject, Audience: c.Audience,
		Expiry: c.ExpiresAt.Time(), IssuedAt: c.IssuedAt.Time(), TokenID: c.ID, TokenType: ProfileTxnToken, Payload: parts[1],
	}
	return pr, st, nil
}

// replace applies the rules of a replacement Txn-Token to the grant: the
// trust domain stays, scope may only narrow, the transaction and its
// context are kept, the requesting workload is added to req_wl, and the
// rule's limit on replacements holds.
func replace(prev *txnState, pr *principal.Principal, g *policy.Grant, requested []string, clientID string) (*txnState, error) {
	if !slices.Contains(pr.Audience, g.Audience) {
		return nil, refuse(api.ErrInvalidTarget, "txn_token_other_domain", "the Txn-Token is for trust domain %s, not %q", jws.Clip(strings.Join(pr.Audience, " ")), g.Audience)
	}
	for _, sc := range requested {
		if !slices.Contains(prev.scopes, sc) {
			return nil, refuse(api.ErrInvalidScope, "txn_token_scope_widened", "a replacement Txn-Token may only narrow the scope: %q is not in the replaced token's scope (%s)", jws.Clip(sc), jws.Clip(strings.Join(prev.scopes, " ")))
		}
	}
	if n := len(prev.reqWL); n > g.MaxReplacements {
		return nil, refuse(api.ErrInvalidRequest, "txn_token_replacement_limit", "the Txn-Token has been replaced %d times, the most rule %q allows (max_replacements %d)", n-1, g.Rule, g.MaxReplacements)
	}
	next := *prev
	next.reqWL = append(slices.Clip(prev.reqWL), clientID)
	return &next, nil
}

// newTxn starts a transaction: a unique txn (RFC 8417 §2.2) and the
// requesting workload.
func newTxn(g *policy.Grant, clientID string) *txnState {
	return &txnState{txn: uuid.NewString(), reqWL: []string{clientID}, tctx: g.Tctx, rctx: g.Rctx}
}

// idJAGExtra are an ID-JAG's optional claims carried from the ID token
// (draft-ietf-oauth-identity-assertion-authz-grant-04): resource, tenant,
// auth_time, acr and amr, when present.
func idJAGExtra(pr *principal.Principal, g *policy.Grant) (map[string]any, error) {
	claims, err := pr.Claims()
	if err != nil {
		return nil, refuse(api.ErrInvalidRequest, "malformed_token", "the ID token's claims cannot be read")
	}
	out := map[string]any{}
	if g.Resource != "" {
		out["resource"] = g.Resource
	}
	if pr.Tenant != "" {
		out["tenant"] = pr.Tenant
	} else if tid, ok := claims["tid"].(string); ok && tid != "" {
		out["tenant"] = tid
	}
	for _, name := range []string{"auth_time", "acr", "amr"} {
		if v, ok := claims[name]; ok && v != nil {
			out[name] = v
		}
	}
	return out, nil
}

// mintInput is what the profile mints from the grant.
func (p *profileRequest) mintInput(in mint.Input, txn *txnState) mint.Input {
	in.Kind = p.kind
	if txn != nil {
		in.Txn, in.ReqWL, in.Tctx, in.Rctx = txn.txn, txn.reqWL, txn.tctx, txn.rctx
	}
	return in
}

// issuedType is the issued_token_type of the response (RFC 8693 §2.2.1).
func (p *profileRequest) issuedType() string {
	switch p.name {
	case ProfileTxnToken:
		return api.TokenTypeTxnToken
	case ProfileIDJAG:
		return api.TokenTypeIDJAG
	}
	return api.TokenTypeAccessToken
}

// bindsToken: Txn-Tokens travel inside the trust domain unbound; the other
// kinds carry the binding the caller proved.
func (p *profileRequest) bindsToken() bool { return p.name != ProfileTxnToken }
