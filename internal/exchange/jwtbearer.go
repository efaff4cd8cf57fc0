package exchange

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/issuer"
)

// Profiles of the one exchange pipeline: each supplies only its own steps
// (dex server/grants); client authentication, token validation, rules,
// limits, binding, minting and audit are shared.
const (
	ProfileTokenExchange = "token_exchange" // RFC 8693
	ProfileJWTBearer     = "jwt_bearer"     // RFC 7523 §2.1
)

// jwtBearer reads an RFC 7523 §2.1 request into the pipeline's shape: the
// assertion is validated as a subject token of type jwt (the trusted
// issuers, their keys and checks), and the rules are chosen the same way.
func jwtBearer(f *api.TokenRequest) error {
	switch {
	case f.Assertion == "":
		return refuse(api.ErrInvalidRequest, "missing_parameter", "assertion is required with grant_type %s (RFC 7523 §2.1)", api.GrantTypeJWTBearer)
	case f.SubjectToken != "" || f.SubjectTokenType != "" || f.ActorToken != "" || f.ActorTokenType != "" || f.RequestedTokenType != "":
		return refuse(api.ErrInvalidRequest, "invalid_parameter",
			"grant_type %s takes the JWT in assertion; subject_token, subject_token_type, actor_token, actor_token_type and requested_token_type belong to token exchange", api.GrantTypeJWTBearer)
	}
	f.SubjectToken, f.SubjectTokenType = f.Assertion, api.TokenTypeJWT
	return nil
}

// tokenRefusal is how the grant answers a refused subject token or assertion.
func tokenRefusal(grantType string) func(*issuer.Error) *Error {
	if grantType == api.GrantTypeJWTBearer {
		return assertionError
	}
	return subjectError
}

// assertionError maps a refused assertion: RFC 7523 §3.1 answers an invalid
// JWT with invalid_grant (token exchange answers invalid_request).
func assertionError(ie *issuer.Error) *Error {
	x := tokenError(ie, "assertion", "")
	if x.Code == api.ErrInvalidRequest {
		x.Code = api.ErrInvalidGrant
	}
	return x
}

// replayAssertion records a bearer assertion's jti (RFC 7523 §3 item 7: the
// server may keep used jtis) until its exp plus the largest leeway an issuer
// may have, in the shared store when there is one: an assertion is good for
// one token across all replicas. Without a jti there is nothing to record.
// A store that cannot answer refuses the request (fail closed).
func (s *Service) replayAssertion(ctx context.Context, st *State, pr *issuer.Principal) error {
	if pr.TokenID == "" {
		return nil
	}
	if st.Assertions == nil {
		return refuse(api.ErrTemporarilyUnavailable, "replay_cache_unavailable", "assertions cannot be checked for replay right now; try again shortly")
	}
	sum := sha256.Sum256([]byte(pr.IssuerURL + "\x00" + pr.TokenID))
	fresh, err := st.Assertions.Use(ctx, "jwt-bearer:"+hex.EncodeToString(sum[:16]), pr.Expiry.Add(config.MaxLeeway))
	switch {
	case err != nil:
		return &Error{Code: api.ErrTemporarilyUnavailable, Reason: "replay_cache_unavailable", Err: err,
			Description: "assertions cannot be checked for replay right now; try again shortly"}
	case !fresh:
		return refuse(api.ErrInvalidGrant, "assertion_replayed", "assertion was already used (its jti was seen before): get a new one for every request")
	}
	return nil
}
