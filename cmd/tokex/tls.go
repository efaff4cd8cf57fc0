package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/server"
)

// tlsConfig is the public listener's TLS configuration, or nil when
// TOKEX_TLS_CERT and TOKEX_TLS_KEY are unset (plain HTTP, e.g. behind a
// terminating proxy), and where client certificates come from. Client
// certificates are requested, not required, and their chains are checked by
// tokex (server.ClientCerts) rather than in the handshake: a certificate of
// an unknown CA gets an OAuth error that says so instead of a failed
// handshake, and a self-signed one can authenticate a
// self_signed_tls_client_auth client (RFC 8705 §2.2) or bind a token (§3).
func tlsConfig(env config.Env, pol *config.Policy) (*tls.Config, *server.ClientCerts, error) {
	proxies, err := env.Proxies()
	if err != nil {
		return nil, nil, err
	}
	cc := &server.ClientCerts{Header: env.ClientCertHeader, TrustedProxies: proxies}
	if env.TLSClientCA != "" {
		pem, err := os.ReadFile(env.TLSClientCA)
		if err != nil {
			return nil, nil, fmt.Errorf("TOKEX_TLS_CLIENT_CA: %w", err)
		}
		cc.CAs = x509.NewCertPool()
		if !cc.CAs.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("TOKEX_TLS_CLIENT_CA %s: no PEM certificate found", env.TLSClientCA)
		}
	}
	behindProxy := env.ClientCertHeader != ""
	if env.TLSCert == "" && !behindProxy && pol.HasTLSClientAuth() {
		return nil, nil, errors.New("a client authenticates with a TLS certificate (tls_client_auth or self_signed_tls_client_auth), which needs HTTPS with client certificates (TOKEX_TLS_CERT, TOKEX_TLS_KEY, and TOKEX_TLS_CLIENT_CA for tls_client_auth) or a TLS-terminating proxy that forwards them (TOKEX_CLIENT_CERT_HEADER, TOKEX_TRUSTED_PROXIES)")
	}
	if cc.CAs == nil && !behindProxy && pol.HasCAClientAuth() {
		return nil, nil, errors.New("a client uses auth: tls_client_auth: set TOKEX_TLS_CLIENT_CA to the CA bundle that issues client certificates")
	}
	if env.TLSCert == "" {
		return nil, cc, nil
	}
	cert, err := tls.LoadX509KeyPair(env.TLSCert, env.TLSKey)
	if err != nil {
		return nil, nil, fmt.Errorf("TOKEX_TLS_CERT %s / TOKEX_TLS_KEY %s: %w", env.TLSCert, env.TLSKey, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	if cc.CAs != nil || pol.HasTLSClientAuth() {
		// The handshake still proves the client holds the certificate's key
		// (CertificateVerify); the chain is checked by cc.
		cfg.ClientAuth = tls.RequestClientCert
	}
	return cfg, cc, nil
}
