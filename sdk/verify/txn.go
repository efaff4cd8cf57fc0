package verify

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tokex/tokex/internal/jws"
	"github.com/tokex/tokex/internal/txntoken"
)

// TxnTokenHeader is the HTTP header a Transaction Token travels in between
// the workloads of a trust domain: the JWT alone, without a scheme
// (draft-ietf-oauth-transaction-tokens-10, "Txn-Token HTTP Header").
const TxnTokenHeader = "Txn-Token"

// ErrNoAudience is returned by Verify when Config.Audience is not set (a
// Verifier for Transaction Tokens only): a configuration error, answered 500
// by WriteError, never a reason to accept any aud.
var ErrNoAudience = errors.New("verify: Config.Audience is not set: access tokens cannot be verified without the audience of this API")

// ErrNoTrustDomain is returned by VerifyTxnToken when Config.TrustDomain is
// not set: a configuration error, answered 500 by WriteError, never a
// reason to accept any aud.
var ErrNoTrustDomain = errors.New("verify: Config.TrustDomain is not set: Transaction Tokens cannot be verified without the trust domain they are for")

// TxnToken is a verified Transaction Token
// (draft-ietf-oauth-transaction-tokens-10): the identity and authorization
// context of one transaction, as it travels between the workloads of a
// trust domain.
type TxnToken struct {
	// Raw is the token as received, to pass on to the next workload in its
	// Txn-Token header. Never log it: log Txn.
	Raw      string
	Issuer   string
	Audience string // aud: the trust domain
	Subject  string
	Txn      string   // txn: the transaction, the same across replacements
	Scopes   []string // scope, split at spaces: the purpose of the transaction
	// RequestingWorkloads is req_wl, oldest first: the workload that
	// requested the token, then each workload that replaced it.
	RequestingWorkloads []string
	Replacements        int            // how often the token was replaced: len(RequestingWorkloads)-1
	Context             map[string]any // tctx: the transaction context; nil when absent
	RequestContext      map[string]any // rctx: the request context; nil when absent
	IssuedAt            time.Time
	ExpiresAt           time.Time
	ID                  string // jti
}

// HasScope reports whether the transaction's purpose (scope) includes scope.
func (t *TxnToken) HasScope(scope string) bool { return slices.Contains(t.Scopes, scope) }

// txnClaims are the claims read from a Transaction Token.
type txnClaims struct {
	jws.Registered
	Txn   string         `json:"txn"`
	Scope *string        `json:"scope"`
	ReqWL jsontext.Value `json:"req_wl"`
	Tctx  jsontext.Value `json:"tctx"`
	Rctx  jsontext.Value `json:"rctx"`
}

var txnToken = kind{
	typ: "txntoken+jwt", a: "a Transaction Token", plural: "Transaction Tokens", only: "Transaction Tokens",
	get:    "send the Transaction Token of this transaction (tokex mints it by token exchange) in the Txn-Token header",
	proof:  "send the proof in the DPoP header and the Transaction Token in Txn-Token",
	spec:   "draft-ietf-oauth-transaction-tokens-10",
	iat:    true,
	scope:  "the purpose of this transaction does not include it",
	scheme: TxnTokenHeader,
}

// VerifyTxnToken checks the Transaction Token in r's Txn-Token header with
// the keys, algorithms and leeway of access tokens: typ txntoken+jwt, iss
// Config.Issuer, aud exactly Config.TrustDomain, exp, iat, txn, sub, scope
// and req_wl present and well formed, tctx and rctx objects when present.
// It returns a *Error for every refusal, and ErrNoTrustDomain when the
// Verifier has no trust domain.
func (v *Verifier) VerifyTxnToken(ctx context.Context, r *http.Request) (*TxnToken, error) {
	if v.cfg.TrustDomain == "" {
		return nil, ErrNoTrustDomain
	}
	raw, err := txnCredential(r)
	var t *TxnToken
	if err == nil {
		t, err = v.verifyTxnToken(ctx, raw)
	}
	if e, ok := err.(*Error); ok {
		e.scheme = TxnTokenHeader // no WWW-Authenticate challenge
	}
	return t, err
}

// txnCredential reads the Txn-Token header: one value, the JWT alone.
func txnCredential(r *http.Request) (string, error) {
	vals := r.Header.Values(TxnTokenHeader)
	switch {
	case len(vals) == 0:
		return "", refuse(http.StatusUnauthorized, "", ReasonNoToken,
			"this API needs the Transaction Token of the call: send it in the Txn-Token header (the JWT alone, without a scheme)")
	case len(vals) > 1:
		return "", refuse(http.StatusBadRequest, CodeInvalidRequest, ReasonRequest, "send exactly one Txn-Token header")
	}
	t := strings.Trim(vals[0], " \t")
	switch {
	case t == "":
		return "", refuse(http.StatusBadRequest, CodeInvalidRequest, ReasonRequest, "the Txn-Token header is empty: send the Transaction Token in it")
	case strings.ContainsAny(t, " \t,"):
		return "", refuse(http.StatusBadRequest, CodeInvalidRequest, ReasonRequest, "the Txn-Token header must hold one JWT alone, without a scheme or a second value")
	}
	return t, nil
}

// verifyTxnToken runs the checks of a Transaction Token: those of every
// tokex JWT, then its own claims.
func (v *Verifier) verifyTxnToken(ctx context.Context, raw string) (*TxnToken, error) {
	c := &txnClaims{}
	if err := v.readJWT(ctx, raw, c, &txnToken, nil); err != nil {
		return nil, err
	}
	// The aud of a Transaction Token is its trust domain, one value.
	if len(c.Audience) != 1 || c.Audience[0] != v.cfg.TrustDomain {
		if len(c.Audience) == 0 {
			return nil, invalidToken(ReasonAudience, "the Transaction Token has no aud claim: those of this trust domain have aud %s", v.cfg.TrustDomain)
		}
		return nil, invalidToken(ReasonAudience, "the Transaction Token is for %s, not this trust domain (%s)", audiences(c.Audience), v.cfg.TrustDomain)
	}
	if err := v.checkRegistered(&c.Registered, &txnToken); err != nil {
		return nil, err
	}
	switch {
	case c.Txn == "":
		return nil, invalidToken(ReasonClaims, "the Transaction Token has no txn claim (%s requires it)", txnToken.spec)
	case c.Scope == nil:
		return nil, invalidToken(ReasonClaims, "the Transaction Token has no scope claim (its purpose; %s requires it)", txnToken.spec)
	}
	wl, err := workloads(c.ReqWL)
	if err != nil {
		return nil, err
	}
	t := &TxnToken{
		Raw:                 raw,
		Issuer:              c.Issuer,
		Audience:            c.Audience[0],
		Subject:             c.Subject,
		Txn:                 c.Txn,
		Scopes:              strings.Fields(*c.Scope),
		RequestingWorkloads: wl,
		Replacements:        len(wl) - 1,
		IssuedAt:            c.IssuedAt.Time(),
		ExpiresAt:           c.ExpiresAt.Time(),
		ID:                  c.ID,
	}
	for _, o := range []struct {
		name string
		v    jsontext.Value
		to   *map[string]any
	}{{"tctx", c.Tctx, &t.Context}, {"rctx", c.Rctx, &t.RequestContext}} {
		if o.v == nil {
			continue
		}
		if o.v.Kind() != '{' || jsonv2.Unmarshal(o.v, o.to) != nil {
			return nil, invalidToken(ReasonMalformed, "the Transaction Token's %s is not a JSON object", o.name)
		}
	}
	return t, nil
}

// workloads reads req_wl: a string for an original token, a non-empty array
// of strings, oldest first, for a replaced one.
func workloads(v jsontext.Value) ([]string, error) {
	const shape = "a workload, or the workloads that requested and replaced the token, oldest first"
	if v == nil {
		return nil, invalidToken(ReasonClaims, "the Transaction Token has no req_wl claim (%s: %s)", txnToken.spec, shape)
	}
	if wl, ok := txntoken.Workloads(v); ok {
		return wl, nil
	}
	return nil, invalidToken(ReasonMalformed, "the Transaction Token's req_wl is not a non-empty string or a non-empty array of non-empty strings (%s)", shape)
}

// RequireTxnScopes returns middleware, to run after
// Verifier.TxnMiddleware, that refuses a Transaction Token whose purpose
// (scope) lacks any of scopes with 403 insufficient_scope. A request without
// a verified Transaction Token is refused with 401.
func RequireTxnScopes(scopes ...string) func(http.Handler) http.Handler {
	return requireScopes(scopes, &txnToken, func(ctx context.Context) ([]string, string, bool) {
		t := TxnFromContext(ctx)
		if t == nil {
			return nil, "", false
		}
		return t.Scopes, TxnTokenHeader, true
	})
}

// NewTxnContext returns ctx carrying t.
func NewTxnContext(ctx context.Context, t *TxnToken) context.Context {
	return context.WithValue(ctx, ctxKey[TxnToken]{}, t)
}

// TxnFromContext is the TxnToken that TxnMiddleware verified, or nil.
func TxnFromContext(ctx context.Context) *TxnToken { return fromContext[TxnToken](ctx) }

// TxnMiddleware verifies every request's Transaction Token before next
// runs, and answers refusals itself (see WriteError: no WWW-Authenticate
// challenge, the Txn-Token header is no authentication scheme). next finds
// the token with TxnFromContext.
func (v *Verifier) TxnMiddleware(next http.Handler) http.Handler {
	return verified(next, v.VerifyTxnToken, NewTxnContext, nil)
}
