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

type ctxKey struct{}

// NewContext returns ctx carrying t.
func NewContext(ctx context.Context, t *Token) context.Context {
	return context.WithValue(ctx, ctxKey{}, t)
}

// FromContext is the Token that Middleware verified, or nil.
func FromContext(ctx context.Context) *Token {
	t, _ := ctx.Value(ctxKey{}).(*Token)
	return t
}

// Middleware verifies every request's token before next runs, and answers
// refusals itself (see WriteError). next finds the token with FromContext.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, err := v.Verify(r.Context(), r)
		if err != nil {
			WriteError(w, err, v.DPoPAlgorithms())
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), t)))
	})
}

// RequireScopes returns middleware, to run after Verifier.Middleware, that
// refuses a token lacking any of scopes with 403 insufficient_scope (RFC
// 6750 §3.1), naming the scopes required in the challenge. The challenge's
// scheme is the one the token came with (Bearer, or DPoP for a DPoP-bound
// token). A request without a verified token is refused with 401.
func RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t := FromContext(r.Context())
			if t == nil {
				WriteError(w, refuse(http.StatusUnauthorized, "", ReasonNoToken, "this API needs an access token from tokex"), nil)
				return
			}
			var missing []string
			for _, s := range scopes {
				if !t.HasScope(s) {
					missing = append(missing, s)
				}
			}
			if len(missing) > 0 {
				has := strings.Join(t.Scopes, " ")
				if has == "" {
					has = "none"
				}
				e := refuse(http.StatusForbidden, CodeInsufficientScope, ReasonScope,
					"the token lacks scope %s (it has: %s): exchange at tokex for a token with it", strings.Join(missing, " "), has)
				e.scheme, e.scope = t.scheme, strings.Join(scopes, " ")
				WriteError(w, e, nil)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
