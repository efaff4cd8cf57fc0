package issuer

import "fmt"

// Reason names the check a token failed. Values are stable: they appear in
// audit events and span attributes.
type Reason string

// Reasons a token is refused.
const (
	ReasonMalformed       Reason = "malformed"
	ReasonUntrustedIssuer Reason = "untrusted_issuer"
	ReasonTokenType       Reason = "token_type_not_accepted"
	ReasonAlgorithm       Reason = "algorithm_not_allowed"
	ReasonHeader          Reason = "header_not_accepted"
	ReasonUnknownKey      Reason = "unknown_key_id"
	ReasonSignature       Reason = "invalid_signature"
	ReasonExpired         Reason = "expired"
	ReasonNotYetValid     Reason = "not_yet_valid"
	ReasonIssuedInFuture  Reason = "issued_in_future"
	ReasonMissingClaim    Reason = "missing_claim"
	ReasonAudience        Reason = "audience_not_accepted"
	ReasonIDToken         Reason = "id_token_not_accepted"
	ReasonKeysUnavailable Reason = "keys_unavailable"
	ReasonTenant          Reason = "tenant_mismatch"         // tid differs from the tenant of iss
	ReasonClaimRule       Reason = "claim_validation_failed" // an issuers[].validate rule is false
	ReasonMisconfigured   Reason = "issuer_misconfigured"    // the issuer's config could not be built
)

// Error is a refused token. Description is safe for clients: it never holds the
// token or key material. Err is the cause, for logs.
type Error struct {
	Reason      Reason
	Description string
	Err         error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Reason, e.Description, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Reason, e.Description)
}

func (e *Error) Unwrap() error { return e.Err }

func refuse(r Reason, err error, format string, args ...any) *Error {
	return &Error{Reason: r, Description: fmt.Sprintf(format, args...), Err: err}
}
