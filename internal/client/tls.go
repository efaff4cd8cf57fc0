package client

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/jws"
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
		return nil, failedf(c, "unknown_client", "tls_client_auth: unknown client %q", jws.Clip(c.PostID))
	case e.auth == config.AuthPrivateKeyJWT:
		return nil, failedf(c, "auth_method_not_allowed", "client %q authenticates with private_key_jwt: send client_assertion and client_assertion_type", jws.Clip(e.id))
	case e.auth == config.AuthSelfSignedTLSClientAuth:
		return r.selfSigned(c, e)
	case e.auth != config.AuthTLSClientAuth:
		return nil, failed(c, "client authentication failed: client_secret is missing")
	case c.Cert == nil:
		return nil, failedf(c, "missing_client_certificate", "client %q authenticates with tls_client_auth, but no TLS client certificate was presented (or it is not issued by a CA that tokex trusts)", jws.Clip(e.id))
	}
	switch {
	case e.subjectDN != "":
		if c.Cert.Subject.String() != e.subjectDN {
			return nil, failedf(c, "certificate_mismatch", "the TLS client certificate's subject does not match tls_client_auth_subject_dn of client %q", jws.Clip(e.id))
		}
	case e.sanDNS != "":
		if !slices.ContainsFunc(c.Cert.DNSNames, func(n string) bool { return strings.EqualFold(n, e.sanDNS) }) {
			return nil, failedf(c, "certificate_mismatch", "the TLS client certificate has no dNSName SAN matching tls_client_auth_san_dns of client %q", jws.Clip(e.id))
		}
	default:
		return nil, failedf(c, "certificate_mismatch", "client %q has no certificate check configured", jws.Clip(e.id))
	}
	return &Client{ID: e.id, Method: api.AuthMethodTLSClientAuth}, nil
}

// selfSigned authenticates a client by a certificate it registered itself
// (self_signed_tls_client_auth, RFC 8705 §2.2): no CA vouches for it; the
// handshake proved the key, and the certificate must be one in the client's
// jwks (x5c), or carry one of its public keys.
func (r *Registry) selfSigned(c Credentials, e *entry) (*Client, error) {
	if c.Presented == nil {
		return nil, failedf(c, "missing_client_certificate", "client %q authenticates with self_signed_tls_client_auth, but no TLS client certificate was presented", jws.Clip(e.id))
	}
	for _, p := range e.pinned {
		if p.cert != nil && bytes.Equal(p.cert.Raw, c.Presented.Raw) {
			return &Client{ID: e.id, Method: api.AuthMethodSelfSignedTLSClientAuth}, nil
		}
		if p.cert == nil && p.key != nil {
			if k, ok := c.Presented.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && k.Equal(p.key) {
				return &Client{ID: e.id, Method: api.AuthMethodSelfSignedTLSClientAuth}, nil
			}
		}
	}
	return nil, failedf(c, "certificate_mismatch", "the TLS client certificate is not one registered in the jwks of client %q", jws.Clip(e.id))
}

// pin is a registered certificate (x5c) or public key of a
// self_signed_tls_client_auth client.
type pin struct {
	cert *x509.Certificate
	key  crypto.PublicKey
}

// pins reads the certificates and keys of an inline JWKS.
func pins(jwks any) ([]pin, error) {
	raw, err := config.InlineJWKS(jwks)
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, err
	}
	var out []pin
	for _, k := range set.Keys {
		if len(k.Certificates) > 0 {
			out = append(out, pin{cert: k.Certificates[0]})
		} else if k.IsPublic() {
			out = append(out, pin{key: k.Key})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no public key or certificate")
	}
	return out, nil
}
