package tokensource

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/MicahParks/jwkset"
)

var b64 = base64.RawURLEncoding

// signer signs compact JWS with a crypto.Signer: ES256 (P-256), ES384
// (P-384), RS256 (RSA) or EdDSA (Ed25519). ECDSA signatures, which
// crypto.Signer returns ASN.1-encoded, are converted to the fixed-size r||s
// of RFC 7518 §3.4, so hardware and cloud KMS signers work too.
type signer struct {
	key  crypto.Signer
	alg  string
	hash crypto.Hash // 0 for Ed25519
	size int         // ECDSA: bytes of r and of s
	jwk  json.RawMessage
}

func newSigner(key crypto.Signer) (*signer, error) {
	s := &signer{key: key}
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			s.alg, s.hash, s.size = "ES256", crypto.SHA256, 32
		case elliptic.P384():
			s.alg, s.hash, s.size = "ES384", crypto.SHA384, 48
		default:
			return nil, errors.New("ECDSA keys must be on P-256 or P-384")
		}
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return nil, errors.New("RSA keys must have at least 2048 bits")
		}
		s.alg, s.hash = "RS256", crypto.SHA256
	case ed25519.PublicKey:
		s.alg = "EdDSA"
	default:
		return nil, fmt.Errorf("unsupported key type %T (use ECDSA P-256/P-384, RSA or Ed25519)", pub)
	}
	jwk, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{})
	if err != nil {
		return nil, fmt.Errorf("public key as JWK: %w", err)
	}
	if s.jwk, err = json.Marshal(jwk.Marshal()); err != nil {
		return nil, err
	}
	return s, nil
}

// sign returns the compact JWS of header and claims (both JSON objects).
func (s *signer) sign(header, claims any) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	var sig []byte
	switch s.hash {
	case 0:
		sig, err = s.key.Sign(rand.Reader, []byte(input), crypto.Hash(0))
	default:
		sig, err = s.key.Sign(rand.Reader, digest(s.hash, input), s.hash)
		if err == nil && s.size > 0 {
			sig, err = rawECDSA(sig, s.size)
		}
	}
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", s.alg, err)
	}
	return input + "." + b64.EncodeToString(sig), nil
}

func digest(h crypto.Hash, s string) []byte {
	if h == crypto.SHA384 {
		d := sha512.Sum384([]byte(s))
		return d[:]
	}
	d := sha256.Sum256([]byte(s))
	return d[:]
}

// rawECDSA converts an ASN.1 ECDSA signature to r||s, each size bytes
// (RFC 7518 §3.4).
func rawECDSA(der []byte, size int) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil || len(rest) > 0 || sig.R == nil || sig.S == nil || sig.R.Sign() <= 0 || sig.S.Sign() <= 0 {
		return nil, errors.New("the signer returned a malformed ECDSA signature")
	}
	if sig.R.BitLen() > size*8 || sig.S.BitLen() > size*8 {
		return nil, errors.New("the signer returned an ECDSA signature too large for its curve")
	}
	out := make([]byte, 2*size)
	sig.R.FillBytes(out[:size])
	sig.S.FillBytes(out[size:])
	return out, nil
}

// proof is a DPoP proof (RFC 9449 §4.2) for method and url (without query
// and fragment), at now; ath binds it to an access token, nonce is the
// server's (§8), both optional.
func (s *signer) proof(method, htu string, iat int64, accessToken, nonce string) (string, error) {
	claims := map[string]any{"jti": rand.Text(), "htm": method, "htu": htu, "iat": iat}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = b64.EncodeToString(sum[:])
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	return s.sign(map[string]any{"typ": "dpop+jwt", "alg": s.alg, "jwk": s.jwk}, claims)
}
