package verify

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Error codes of refusals: RFC 6750 §3.1 and RFC 9449 §7.1.
const (
	CodeInvalidRequest    = "invalid_request"
	CodeInvalidToken      = "invalid_token"
	CodeInvalidDPoPProof  = "invalid_dpop_proof"
	CodeInsufficientScope = "insufficient_scope"
	// CodeUnavailable: a check could not run (the DPoP replay cache did not
	// answer); the request was refused, never accepted unchecked.
	CodeUnavailable = "temporarily_unavailable"
)

// Reason names the check that refused a request: stable and low-cardinality,
// for logs and metrics. Reasons of DPoP proof checks start with "dpop_".
type Reason string

// Reasons.
const (
	ReasonNoToken     Reason = "no_token"         // no Authorization (or Txn-Token) header with a token
	ReasonRequest     Reason = "request"          // the Authorization (or Txn-Token) header cannot be read
	ReasonMalformed   Reason = "malformed"        // not a signed JWT, or claims of the wrong type
	ReasonHeader      Reason = "header"           // jku, x5u, jwk, x5c or crit in the header
	ReasonType        Reason = "typ"              // not of the type asked for: at+jwt or txntoken+jwt (ID token, plain JWT, ...)
	ReasonIssuer      Reason = "iss"              // another issuer
	ReasonAlgorithm   Reason = "alg"              // none, HMAC or not in Config.Algorithms
	ReasonKey         Reason = "key"              // kid not in the issuer's JWKS
	ReasonSignature   Reason = "signature"        // does not verify
	ReasonAudience    Reason = "aud"              // for another API (or trust domain)
	ReasonExpired     Reason = "exp"              // expired, or no exp
	ReasonNotYetValid Reason = "nbf"              // nbf in the future
	ReasonIssuedAt    Reason = "iat"              // iat in the future (or, for a Transaction Token, absent)
	ReasonClaims      Reason = "claims"           // a required claim (sub; txn, scope, req_wl) is missing
	ReasonBinding     Reason = "binding"          // bound token as Bearer, unbound as DPoP, RequireBinding, unknown cnf
	ReasonCertificate Reason = "certificate"      // no or another TLS client certificate (RFC 8705)
	ReasonProofKey    Reason = "dpop_jkt"         // the DPoP proof's key is not the token's cnf.jkt
	ReasonScope       Reason = "scope"            // RequireScopes, RequireTxnScopes: a scope is missing
	ReasonUnavailable Reason = "dpop_unavailable" // the replay cache cannot answer
)

// Error is a refused request. Description is written for the caller's
// developer and never holds the token; Status is the HTTP status the
// Middleware answers with.
type Error struct {
	Code        string // CodeInvalidToken, ...; "" when no token was sent (RFC 6750 §3.1)
	Description string
	Status      int
	Reason      Reason

	scheme string // "Bearer" or "DPoP": the challenge; "" for both; TxnTokenHeader for none
	scope  string // insufficient_scope: the scopes required
	err    error
}

func (e *Error) Error() string {
	s := "verify: " + string(e.Reason) + ": " + e.Description
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

// Unwrap is the underlying cause, if any (a library error; never shown to
// the caller).
func (e *Error) Unwrap() error { return e.err }

func refuse(status int, code string, reason Reason, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Reason: reason, Description: fmt.Sprintf(format, args...)}
}

func invalidToken(reason Reason, format string, args ...any) *Error {
	return refuse(http.StatusUnauthorized, CodeInvalidToken, reason, format, args...)
}

// WriteError answers a refusal as RFC 6750 §3 and RFC 9449 §7.1 say: the
// status, a WWW-Authenticate challenge (Bearer or DPoP, with error,
// error_description and, for DPoP, algs) and a JSON body {error,
// error_description}; a refused Transaction Token gets no challenge. dpopAlgs are the proof algorithms accepted. An error
// that is not an *Error is answered 500 with no detail.
func WriteError(w http.ResponseWriter, err error, dpopAlgs []string) {
	h := w.Header()
	e, ok := err.(*Error)
	if !ok {
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":"server_error"}` + "\n"))
		return
	}
	// A Transaction Token is no authentication scheme: no challenge.
	bearer := e.scheme != "DPoP" && e.scheme != TxnTokenHeader
	dpop := e.scheme != "Bearer" && e.scheme != TxnTokenHeader
	if bearer {
		h.Add("WWW-Authenticate", e.challenge("Bearer", nil))
	}
	if dpop {
		h.Add("WWW-Authenticate", e.challenge("DPoP", dpopAlgs))
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(struct {
		Error       string `json:"error,omitempty"`
		Description string `json:"error_description"`
	}{e.Code, e.Description})
}

// challenge is one WWW-Authenticate challenge (RFC 6750 §3, RFC 9449 §7.1).
func (e *Error) challenge(scheme string, algs []string) string {
	var params []string
	if e.Code != "" {
		params = append(params, `error="`+e.Code+`"`)
		if e.Description != "" {
			params = append(params, `error_description="`+quotable(e.Description)+`"`)
		}
	}
	if e.scope != "" {
		params = append(params, `scope="`+quotable(e.scope)+`"`)
	}
	if len(algs) > 0 {
		params = append(params, `algs="`+strings.Join(algs, " ")+`"`)
	}
	if len(params) == 0 {
		return scheme
	}
	return scheme + " " + strings.Join(params, ", ")
}

// quotable keeps what RFC 6750 §3 allows in error_description (%x20-21,
// %x23-5B, %x5D-7E): a quote becomes an apostrophe, anything else '?'.
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r == '\\' || r < 0x20 || r > 0x7e:
			return '?'
		}
		return r
	}, s)
}
