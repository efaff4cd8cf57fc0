package verify

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Token is a verified access token.
type Token struct {
	// Raw is the token as received, for exchanging it further at tokex (the
	// subject of a tokensource). Never log it.
	Raw          string
	Issuer       string
	Subject      string
	ClientID     string   // client_id: the client the token was issued to
	Scopes       []string // scope, split at spaces
	Audience     []string
	Actors       []Actor // the act chain (RFC 8693 §4.1): Actors[0] acts now, the rest before it
	Confirmation Confirmation
	Expiry       time.Time
	IssuedAt     time.Time
	ID           string         // jti
	Claims       map[string]any // every claim, as JSON decodes it

	scheme   string   // Bearer or DPoP: the challenge for later refusals
	cnfOther []string // cnf members other than jkt and x5t#S256
}

// Actor is one party of a delegation chain: who acts for the subject.
type Actor struct {
	Subject  string
	Issuer   string
	ClientID string
}

// Confirmation is the key a token is bound to (RFC 7800 cnf); both empty for
// a bearer token.
type Confirmation struct {
	JKT string // cnf.jkt: RFC 7638 thumbprint of a DPoP key (RFC 9449 §6)
	X5T string // cnf.x5t#S256: SHA-256 of a TLS client certificate (RFC 8705 §3.1)
}

// HasScope reports whether the token carries scope.
func (t *Token) HasScope(scope string) bool { return slices.Contains(t.Scopes, scope) }

// ctxKey is the context key of a verified token of type T.
type ctxKey[T any] struct{}

// NewContext returns ctx carrying t.
func NewContext(ctx context.Context, t *Token) context.Context {
	return context.WithValue(ctx, ctxKey[Token]{}, t)
}

// FromContext is the Token that Middleware verified, or nil.
func FromContext(ctx context.Context) *Token { return fromContext[Token](ctx) }

func fromContext[T any](ctx context.Context) *T {
	t, _ := ctx.Value(ctxKey[T]{}).(*T)
	return t
}

// Middleware verifies every request's token before next runs, and answers
// refusals itself (see WriteError). next finds the token with FromContext.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return verified(next, v.Verify, NewContext, v.DPoPAlgorithms())
}

// verified is middleware that runs check on every request and puts the
// token into the context with put before next runs; refusals are answered
// by WriteError, with dpopAlgs.
func verified[T any](next http.Handler, check func(context.Context, *http.Request) (*T, error), put func(context.Context, *T) context.Context, dpopAlgs []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, err := check(r.Context(), r)
		if err != nil {
			WriteError(w, err, dpopAlgs)
			return
		}
		next.ServeHTTP(w, r.WithContext(put(r.Context(), t)))
	})
}

// RequireScopes returns middleware, to run after Verifier.Middleware, that
// refuses a token lacking any of scopes with 403 insufficient_scope (RFC
// 6750 §3.1), naming the scopes required in the challenge. The challenge's
// scheme is the one the token came with (Bearer, or DPoP for a DPoP-bound
// token). A request without a verified token is refused with 401.
func RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	return requireScopes(scopes, &accessToken, func(ctx context.Context) ([]string, string, bool) {
		t := FromContext(ctx)
		if t == nil {
			return nil, "", false
		}
		return t.Scopes, t.scheme, true
	})
}

// requireScopes is RequireScopes for tokens of kind k; held finds the
// verified token's scopes and scheme in a request's context.
func requireScopes(scopes []string, k *kind, held func(context.Context) (has []string, scheme string, ok bool)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			scoped, scheme, ok := held(r.Context())
			if !ok {
				e := refuse(http.StatusUnauthorized, "", ReasonNoToken, "this API needs %s from tokex", k.a)
				e.scheme = k.scheme
				WriteError(w, e, nil)
				return
			}
			var missing []string
			for _, s := range scopes {
				if !slices.Contains(scoped, s) {
					missing = append(missing, s)
				}
			}
			if len(missing) > 0 {
				has := strings.Join(scoped, " ")
				if has == "" {
					has = "none"
				}
				e := refuse(http.StatusForbidden, CodeInsufficientScope, ReasonScope,
					"the token lacks scope %s (it has: %s): %s", strings.Join(missing, " "), has, k.scope)
				e.scheme, e.scope = scheme, strings.Join(scopes, " ")
				WriteError(w, e, nil)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
