package config

import (
	"bytes"
	"fmt"
	"os"
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
