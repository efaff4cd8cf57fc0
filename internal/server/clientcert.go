package server

import (
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// ClientCerts says where client certificates (RFC 8705) come from and which
// a CA vouches for. The zero value takes only certificates of tokex's own TLS
// listener that the TLS stack verified.
type ClientCerts struct {
	// CAs verify a certificate's chain (TOKEX_TLS_CLIENT_CA); tls_client_auth
	// needs a verified one.
	CAs *x509.CertPool
	// Header is where a TLS-terminating proxy forwards the client's
	// certificate (TOKEX_CLIENT_CERT_HEADER): Envoy's X-Forwarded-Client-Cert
	// (its Cert= element) or a URL-escaped PEM (nginx's
	// $ssl_client_escaped_cert). It is read only from TrustedProxies.
	Header         string
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger

	lastWarn atomic.Int64 // unix seconds of the last "untrusted header" warning
}

// certs returns the client certificate of r, if any (presented), and the
// same certificate when its chain verifies against CAs (verified).
func (cc *ClientCerts) certs(r *http.Request) (verified, presented *x509.Certificate) {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		leaf := r.TLS.PeerCertificates[0]
		if len(r.TLS.VerifiedChains) > 0 || cc.verify(leaf, r.TLS.PeerCertificates[1:]) {
			return leaf, leaf
		}
		return nil, leaf
	}
	if cc == nil || cc.Header == "" {
		return nil, nil
	}
	v := r.Header.Get(cc.Header)
	if v == "" {
		return nil, nil
	}
	if !cc.trusted(r.RemoteAddr) {
		// Anyone can send the header; only a configured proxy is believed.
		if now := time.Now().Unix(); cc.Logger != nil && cc.lastWarn.Swap(now) < now-60 {
			cc.Logger.Warn("client certificate header from a peer that is not a trusted proxy: ignored (TOKEX_TRUSTED_PROXIES)", "header", cc.Header, "peer", r.RemoteAddr)
		}
		return nil, nil
	}
	leaf := parseForwarded(v)
	if leaf == nil {
		return nil, nil
	}
	// The proxy verified the chain when tokex has no CA of its own to check.
	if cc.CAs == nil || cc.verify(leaf, nil) {
		return leaf, leaf
	}
	return nil, leaf
}

func (cc *ClientCerts) verify(leaf *x509.Certificate, intermediates []*x509.Certificate) bool {
	if cc == nil || cc.CAs == nil {
		return false
	}
	pool := x509.NewCertPool()
	for _, c := range intermediates {
		pool.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: cc.CAs, Intermediates: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err == nil
}

func (cc *ClientCerts) trusted(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range cc.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// parseForwarded reads a forwarded client certificate: Envoy's XFCC (the
// Cert="..." of the last element, which the nearest proxy appended) or a
// URL-escaped PEM. Anything else is no certificate.
func parseForwarded(v string) *x509.Certificate {
	if i := strings.LastIndexByte(v, ','); i >= 0 && strings.Contains(v[i:], "Cert=") {
		v = v[i+1:]
	}
	if strings.Contains(v, "Cert=") {
		for _, kv := range strings.Split(v, ";") {
			k, val, _ := strings.Cut(strings.TrimSpace(kv), "=")
			if strings.EqualFold(k, "Cert") {
				v = strings.Trim(val, `"`)
				break
			}
		}
	}
	p, err := url.QueryUnescape(v)
	if err != nil {
		return nil
	}
	block, _ := pem.Decode([]byte(p))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil
	}
	return c
}
