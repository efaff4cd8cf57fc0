package api

// Grant types (RFC 8693 §2.1).
const (
	GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// GrantTypeJWTBearer is the JWT bearer grant (RFC 7523 §2.1): a workload
	// trades its platform JWT (Kubernetes, GitHub Actions, SPIFFE) for a token.
	GrantTypeJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// Token type identifiers (RFC 8693 §3).
const (
	TokenTypeAccessToken  = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeRefreshToken = "urn:ietf:params:oauth:token-type:refresh_token"
	TokenTypeIDToken      = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeJWT          = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeSAML1        = "urn:ietf:params:oauth:token-type:saml1"
	TokenTypeSAML2        = "urn:ietf:params:oauth:token-type:saml2"
	// TokenTypeTxnToken is a Transaction Token
	// (draft-ietf-oauth-transaction-tokens-10).
	TokenTypeTxnToken = "urn:ietf:params:oauth:token-type:txn_token"
	// TokenTypeIDJAG is an Identity Assertion JWT Authorization Grant
	// (draft-ietf-oauth-identity-assertion-authz-grant-04).
	TokenTypeIDJAG = "urn:ietf:params:oauth:token-type:id-jag"
)

// Token types of the token response (RFC 6749 §7.1, RFC 9449 §5).
const (
	TokenTypeBearer = "Bearer"
	TokenTypeDPoP   = "DPoP" // the token is bound to a DPoP key (cnf.jkt)
	// TokenTypeNA: the issued token is not an access token (RFC 8693
	// §2.2.1), as with Txn-Tokens and ID-JAGs.
	TokenTypeNA = "N_A"
)

// JOSE typ of the tokens tokex mints, one per kind so that none can be taken
// for another (RFC 8725 §3.11).
const (
	TypAccessToken = "at+jwt"           // RFC 9068 §2.1
	TypTxnToken    = "txntoken+jwt"     // draft-ietf-oauth-transaction-tokens-10
	TypIDJAG       = "oauth-id-jag+jwt" // draft-ietf-oauth-identity-assertion-authz-grant-04
)

// HeaderTxnToken carries a Txn-Token between workloads
// (draft-ietf-oauth-transaction-tokens-10).
const HeaderTxnToken = "Txn-Token"

// HTTP headers of DPoP (RFC 9449 §4.1, §8.1).
const (
	HeaderDPoP      = "DPoP"
	HeaderDPoPNonce = "DPoP-Nonce"
)

// ClientAssertionTypeJWTBearer is the client_assertion_type of RFC 7523 §2.2.
const ClientAssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Client authentication methods (RFC 8414 §2, RFC 7591 §2).
const (
	AuthMethodClientSecretBasic = "client_secret_basic"
	AuthMethodClientSecretPost  = "client_secret_post"
	AuthMethodPrivateKeyJWT     = "private_key_jwt" // RFC 7523 §2.2
	AuthMethodTLSClientAuth     = "tls_client_auth" // RFC 8705 §2.1
	// RFC 8705 §2.2: a certificate the client registered itself (jwks).
	AuthMethodSelfSignedTLSClientAuth = "self_signed_tls_client_auth"
	AuthMethodNone                    = "none" // public callers (rules with allow_unauthenticated)
)

// ErrorCode is an OAuth 2.0 error code (RFC 6749 §5.2, RFC 8693 §2.2.2).
type ErrorCode string

// Error codes tokex answers with.
const (
	ErrInvalidRequest         ErrorCode = "invalid_request"
	ErrInvalidClient          ErrorCode = "invalid_client"
	ErrInvalidGrant           ErrorCode = "invalid_grant"
	ErrUnauthorizedClient     ErrorCode = "unauthorized_client"
	ErrUnsupportedGrantType   ErrorCode = "unsupported_grant_type"
	ErrInvalidScope           ErrorCode = "invalid_scope"
	ErrInvalidTarget          ErrorCode = "invalid_target"
	ErrTemporarilyUnavailable ErrorCode = "temporarily_unavailable"
	ErrServerError            ErrorCode = "server_error"
	// RFC 9449 §5, §8: a DPoP proof that fails a check, and the challenge to
	// retry with the server's nonce (sent in the DPoP-Nonce header).
	ErrInvalidDPoPProof ErrorCode = "invalid_dpop_proof"
	ErrUseDPoPNonce     ErrorCode = "use_dpop_nonce"
)

// Form parameter names of the token request (RFC 8693 §2.1, RFC 6749 §2.3.1, RFC 7523 §2.2).
const (
	ParamGrantType           = "grant_type"
	ParamSubjectToken        = "subject_token"
	ParamSubjectTokenType    = "subject_token_type"
	ParamActorToken          = "actor_token"
	ParamActorTokenType      = "actor_token_type"
	ParamRequestedTokenType  = "requested_token_type"
	ParamAudience            = "audience"
	ParamResource            = "resource"
	ParamScope               = "scope"
	ParamClientID            = "client_id"
	ParamClientSecret        = "client_secret"
	ParamClientAssertion     = "client_assertion"
	ParamClientAssertionType = "client_assertion_type"
	ParamAssertion           = "assertion" // RFC 7523 §2.1
	// draft-ietf-oauth-transaction-tokens-10: JSON objects.
	ParamRequestContext = "request_context"
	ParamRequestDetails = "request_details"
)

// TokenRequest is the body of POST /token (application/x-www-form-urlencoded).
// Empty strings mean absent (an empty parameter is treated as not sent).
type TokenRequest struct {
	GrantType           string `form:"grant_type"`
	SubjectToken        string `form:"subject_token"`
	SubjectTokenType    string `form:"subject_token_type"`
	ActorToken          string `form:"actor_token"`
	ActorTokenType      string `form:"actor_token_type"`
	RequestedTokenType  string `form:"requested_token_type"`
	Audience            string `form:"audience"`
	Resource            string `form:"resource"`
	Scope               string `form:"scope"`
	ClientID            string `form:"client_id"`
	ClientSecret        string `form:"client_secret"`
	ClientAssertion     string `form:"client_assertion"`
	ClientAssertionType string `form:"client_assertion_type"`
	// Assertion is the JWT of the jwt-bearer grant (RFC 7523 §2.1).
	Assertion string `form:"assertion"`
	// RequestContext and RequestDetails are JSON objects of a Txn-Token
	// request (draft-ietf-oauth-transaction-tokens-10).
	RequestContext string `form:"request_context"`
	RequestDetails string `form:"request_details"`
}

// TokenResponse is the successful answer of POST /token (RFC 8693 §2.2.1).
type TokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope"`
}

// ErrorResponse is the body of every refused request (RFC 6749 §5.2).
type ErrorResponse struct {
	Error            ErrorCode `json:"error"`
	ErrorDescription string    `json:"error_description,omitempty"`
}

// ServerMetadata is the RFC 8414 authorization server metadata document, served
// at /.well-known/oauth-authorization-server and /.well-known/openid-configuration.
type ServerMetadata struct {
	Issuer                            string   `json:"issuer"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	// RFC 8414 §2: the algorithms of private_key_jwt client assertions.
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	// Not RFC 8414 but read by OIDC discovery clients; tokex signs access tokens only.
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported,omitempty"`
	SubjectTypesSupported            []string `json:"subject_types_supported,omitempty"`
	// RFC 9449 §5.1: the JWS algorithms tokex accepts for DPoP proofs.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	// RFC 8705 §3.3: tokens are bound to the client certificate when one is presented.
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	// The requested_token_type values tokex issues
	// (draft-ietf-oauth-identity-chaining, read by ID-JAG clients).
	IdentityChainingRequestedTokenTypesSupported []string `json:"identity_chaining_requested_token_types_supported,omitempty"`
}

// HealthResponse is the body of /healthz and /readyz.
type HealthResponse struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}
