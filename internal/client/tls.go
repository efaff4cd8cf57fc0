package client

import (
	"slices"
	"strings"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/config"
)

// tlsClientAuth authenticates a client by its TLS certificate (RFC 8705
// §2.1): the TLS stack verified the chain against TOKEX_TLS_CLIENT_CA; here the
// certificate must match the one subject DN or dNSName SAN configured.
func (r *Registry) tlsClientAuth(c Credentials) (*Client, error) {
	e, ok := r.byID[c.PostID]
	switch {
	case !ok:
		if c.Cert == nil {
			return nil, failed(c, "client authentication failed: client_secret is missing")
		}
		return nil, failedf(c, "unknown_client", "tls_client_auth: unknown client %q", clip(c.PostID))
	case e.auth == config.AuthPrivateKeyJWT:
		return nil, failedf(c, "auth_method_not_allowed", "client %q authenticates with private_key_jwt: send client_assertion and client_assertion_type", clip(e.id))
	case e.auth != config.AuthTLSClientAuth:
		return nil, failed(c, "client authentication failed: client_secret is missing")
	case c.Cert == nil:
		return nil, failedf(c, "missing_client_certificate", "client %q authenticates with tls_client_auth, but no TLS client certificate was presented (or it is not issued by a CA that tokex trusts)", clip(e.id))
	}
	switch {
	case e.subjectDN != "":
		if c.Cert.Subject.String() != e.subjectDN {
			return nil, failedf(c, "certificate_mismatch", "the TLS client certificate's subject does not match tls_client_auth_subject_dn of client %q", clip(e.id))
		}
	case e.sanDNS != "":
		if !slices.ContainsFunc(c.Cert.DNSNames, func(n string) bool { return strings.EqualFold(n, e.sanDNS) }) {
			return nil, failedf(c, "certificate_mismatch", "the TLS client certificate has no dNSName SAN matching tls_client_auth_san_dns of client %q", clip(e.id))
		}
	default:
		return nil, failedf(c, "certificate_mismatch", "client %q has no certificate check configured", clip(e.id))
	}
	return &Client{ID: e.id, Method: api.AuthMethodTLSClientAuth}, nil
}
