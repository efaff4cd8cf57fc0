package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// MinDPoPNonceSecret is the shortest DPoP nonce secret accepted (HMAC-SHA256 key).
const MinDPoPNonceSecret = 32

// DPoPNonceSecret reads TOKEX_DPOP_NONCE_SECRET_FILE; nil when it is unset.
func (e Env) DPoPNonceSecret() ([]byte, error) {
	if e.DPoPNonceSecretFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(e.DPoPNonceSecretFile)
	if err != nil {
		return nil, fmt.Errorf("TOKEX_DPOP_NONCE_SECRET_FILE: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < MinDPoPNonceSecret {
		return nil, fmt.Errorf("TOKEX_DPOP_NONCE_SECRET_FILE %s: the secret is %d bytes; at least %d are required (e.g. openssl rand -base64 48)", e.DPoPNonceSecretFile, len(b), MinDPoPNonceSecret)
	}
	return b, nil
}

// UsesDPoPNonces reports whether any client must send DPoP nonces.
func (p *Policy) UsesDPoPNonces() bool {
	if p.DPoP != nil && p.DPoP.Nonce == DPoPNonceRequired {
		return true
	}
	for _, c := range p.Clients {
		if c.DPoPNonce == DPoPNonceRequired {
			return true
		}
	}
	return false
}

// Proxies parses TOKEX_TRUSTED_PROXIES: CIDRs or single addresses.
func (e Env) Proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(e.TrustedProxies, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("TOKEX_TRUSTED_PROXIES: %q is neither a CIDR nor an address", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
