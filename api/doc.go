// Package api is tokex's public wire contract: the token request and response,
// the OAuth error body, the RFC 8414 metadata document, and the URNs and error
// codes of RFC 6749, RFC 8693 and RFC 7523.
//
// It imports only the standard library and holds no logic, so clients can import
// it. openapi.yaml at the repository root describes the same shapes; a test keeps
// the two in step.
package api
