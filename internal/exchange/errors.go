package exchange

import (
	"fmt"
	"time"

	"github.com/tokex/tokex/api"
)

// Error is a refused exchange. Description is safe for the client; Err is the
// cause, for logs only.
type Error struct {
	Code        api.ErrorCode
	Description string
	Err         error
	// Reason is a stable, low-cardinality name of the failed check, for audit
	// and spans (e.g. "expired", "no_rule").
	Reason string
	// BasicChallenge asks the transport to answer with WWW-Authenticate: Basic.
	BasicChallenge bool
	// RetryAfter, when set, is a rate limit refusal: the transport answers 429
	// with Retry-After.
	RetryAfter time.Duration
	// DPoPNonce, with use_dpop_nonce, is the nonce the transport sends in the
	// DPoP-Nonce header (RFC 9449 §8).
	DPoPNonce string
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Description, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Description)
}

func (e *Error) Unwrap() error { return e.Err }

func refuse(code api.ErrorCode, reason, format string, args ...any) *Error {
	return &Error{Code: code, Reason: reason, Description: fmt.Sprintf(format, args...)}
}
