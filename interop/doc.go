// Package interop checks that tokex works unchanged with OAuth and JWT
// libraries nobody on the tokex team wrote: golang.org/x/oauth2 (the token
// exchange through clientcredentials), github.com/coreos/go-oidc/v3
// (discovery and validation of the minted token against the remote JWKS) and,
// in node/, panva's openid-client, jose and oauth4webapi: access tokens, DPoP,
// and the Transaction Token and ID-JAG profiles, an ID-JAG redeemed with the
// JWT bearer grant at a resource authorization server (node/profiles.mjs).
//
// The tests build the real binary, run it in demo mode (or with a policy
// file) on a loopback port and talk to it over HTTP only, with the wire
// strings an outside client would use; of tokex's own packages only the fake
// identity provider (internal/testidp) is imported.
package interop
