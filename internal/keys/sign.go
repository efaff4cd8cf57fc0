package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Algorithms tokex can sign with (RFC 7518 §3.1, RFC 8037 §3.1).
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
	RS256 = "RS256"
	PS256 = "PS256"
)

// Algorithms lists the signing algorithms, the default first.
var Algorithms = []string{ES256, EdDSA, RS256, PS256}

// es256Size is the byte length of r and of s in an ES256 signature (RFC 7518 §3.4).
const es256Size = 32

// signer signs JWS signing inputs through a crypto.Signer, so the private key
// may live in memory, a KMS or an HSM alike.
type signer struct {
	alg  string
	key  crypto.Signer
	opts crypto.SignerOpts
}

func newSigner(alg string, key crypto.Signer) (signer, error) {
	pub := key.Public()
	s := signer{alg: alg, key: key}
	switch alg {
	case ES256:
		if p, ok := pub.(*ecdsa.PublicKey); !ok || p.Curve != elliptic.P256() {
			return s, fmt.Errorf("%s needs an EC P-256 key, not %T", alg, pub)
		}
		s.opts = crypto.SHA256
	case EdDSA:
		if _, ok := pub.(ed25519.PublicKey); !ok {
			return s, fmt.Errorf("%s needs an Ed25519 key, not %T", alg, pub)
		}
		s.opts = crypto.Hash(0) // Ed25519 signs the message itself (RFC 8032 §5.1.6)
	case RS256, PS256:
		p, ok := pub.(*rsa.PublicKey)
		if !ok {
			return s, fmt.Errorf("%s needs an RSA key, not %T", alg, pub)
		}
		if p.N.BitLen() < minRSABits {
			return s, fmt.Errorf("RSA key has %d bits; at least %d are required", p.N.BitLen(), minRSABits)
		}
		s.opts = crypto.SHA256
		if alg == PS256 {
			// RFC 7518 §3.5: the salt is as long as the hash.
			s.opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		}
	default:
		return s, fmt.Errorf("unsupported algorithm %q (use ES256, EdDSA, RS256 or PS256)", alg)
	}
	return s, nil
}

// sign returns the JWS signature of input in its compact form.
func (s signer) sign(input string) ([]byte, error) {
	var msg []byte
	if s.alg == EdDSA {
		msg = []byte(input) // Ed25519 signs the message itself (RFC 8032 §5.1.6)
	} else {
		sum := sha256.Sum256([]byte(input)) // hashed in place, without a copy of input
		msg = sum[:]
	}
	sig, err := s.key.Sign(rand.Reader, msg, s.opts)
	if err != nil {
		return nil, err
	}
	if s.alg == ES256 {
		// crypto.Signer gives ASN.1 DER; JWS wants r || s (RFC 7518 §3.4).
		return derToRaw(sig)
	}
	return sig, nil
}

var errBadECDSASignature = errors.New("the signer returned a malformed ECDSA signature")

// derToRaw turns an ASN.1 ECDSA-Sig-Value into the fixed-size r || s of JWS.
func derToRaw(der []byte) ([]byte, error) {
	var seq, r, s cryptobyte.String
	in := cryptobyte.String(der)
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&r, asn1.INTEGER) || !seq.ReadASN1(&s, asn1.INTEGER) || !seq.Empty() {
		return nil, errBadECDSASignature
	}
	out := make([]byte, 2*es256Size)
	if !putInt(out[:es256Size], r) || !putInt(out[es256Size:], s) {
		return nil, errBadECDSASignature
	}
	return out, nil
}

// putInt writes a positive DER integer right-aligned into dst.
func putInt(dst, v []byte) bool {
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) == 0 || len(v) > len(dst) {
		return false
	}
	copy(dst[len(dst)-len(v):], v)
	return true
}

// encodeHeader is the base64url JOSE header of the tokens of one typ a key
// signs, computed once because it never changes.
func encodeHeader(alg, kid, typ string) (string, error) {
	hdr, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{alg, kid, typ})
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(hdr), nil
}
