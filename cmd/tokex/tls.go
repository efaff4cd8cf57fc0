package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/tokex/tokex/internal/config"
)

// tlsConfig is the public listener's TLS configuration, or nil when
// TOKEX_TLS_CERT and TOKEX_TLS_KEY are unset (plain HTTP, e.g. behind a
// terminating proxy). With TOKEX_TLS_CLIENT_CA, client certificates are
// requested and, when sent, verified against those CAs (RFC 8705 §2.1): a
// client without one can still authenticate another way.
func tlsConfig(env config.Env, pol *config.Policy) (*tls.Config, error) {
	if env.TLSCert == "" {
		if pol.HasTLSClientAuth() {
			return nil, errors.New("a client uses auth: tls_client_auth, which needs HTTPS with client certificates: set TOKEX_TLS_CERT, TOKEX_TLS_KEY and TOKEX_TLS_CLIENT_CA")
		}
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(env.TLSCert, env.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("TOKEX_TLS_CERT %s / TOKEX_TLS_KEY %s: %w", env.TLSCert, env.TLSKey, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	if env.TLSClientCA == "" {
		if pol.HasTLSClientAuth() {
			return nil, errors.New("a client uses auth: tls_client_auth: set TOKEX_TLS_CLIENT_CA to the CA bundle that issues client certificates")
		}
		return cfg, nil
	}
	pem, err := os.ReadFile(env.TLSClientCA)
	if err != nil {
		return nil, fmt.Errorf("TOKEX_TLS_CLIENT_CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("TOKEX_TLS_CLIENT_CA %s: no PEM certificate found", env.TLSClientCA)
	}
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	return cfg, nil
}
