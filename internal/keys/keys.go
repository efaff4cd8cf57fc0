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
	"fmt"
	"math/big"
	"os"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tokex/tokex/internal/config"
)

// Algorithms tokex can sign with.
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
	RS256 = "RS256"
)

// minRSABits is the smallest RSA modulus accepted for signing (NIST SP 800-57).
const minRSABits = 2048

// maxKeyFileBytes bounds the keys file.
const maxKeyFileBytes = 1 << 20

// SigningKey is one private key of the set.
type SigningKey struct {
	KID    string
	Alg    string
	method jwt.SigningMethod
	key    crypto.Signer
	// header is the base64url JWS header of tokens this key signs (RFC 9068 §2.1:
	// typ at+jwt), computed once because it never changes.
	header string
}

// Public returns the public half of the key.
func (k *SigningKey) Public() crypto.PublicKey { return k.key.Public() }

// EncodedHeader is the base64url-encoded JOSE header {"alg","kid","typ":"at+jwt"}.
func (k *SigningKey) EncodedHeader() string { return k.header }

// Sign signs a JWS signing input (header.payload) and returns the raw signature.
func (k *SigningKey) Sign(signingInput string) ([]byte, error) {
	return k.method.Sign(signingInput, k.key)
}

// Set is an immutable key set: one active key that signs, all keys published.
type Set struct {
	active *SigningKey
	all    []*SigningKey
	jwks   []byte
	etag   string
}

// Active is the key that signs new tokens.
func (s *Set) Active() *SigningKey { return s.active }

// Keys lists every key of the set, the active one first.
func (s *Set) Keys() []*SigningKey { return s.all }

// JWKS is the public JWK Set document (JSON).
func (s *Set) JWKS() []byte { return s.jwks }

// ETag is a strong validator of JWKS, for conditional GETs.
func (s *Set) ETag() string { return s.etag }

// Generate makes an ephemeral one-key set; its private key lives only in memory.
func Generate(alg string) (*Set, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case ES256, "":
		alg = ES256
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return nil, fmt.Errorf("generate key: unsupported algorithm %q (use ES256, EdDSA or RS256)", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	kid, err := Thumbprint(priv.Public())
	if err != nil {
		return nil, err
	}
	k, err := newSigningKey(kid, alg, priv)
	if err != nil {
		return nil, err
	}
	return newSet([]*SigningKey{k})
}

// LoadFile reads a private JWKS file. The first key signs (SPEC §3).
func LoadFile(path string) (*Set, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keys file: %w", err)
	}
	if st.Size() > maxKeyFileBytes {
		return nil, fileError(path, "", "file is %d bytes; at most %d", st.Size(), maxKeyFileBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys file: %w", err)
	}
	return Parse(data, path)
}

// Parse reads a private JWKS document, reporting every bad key with its path.
func Parse(data []byte, file string) (*Set, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fileError(file, "", "not a JSON JWK Set (RFC 7517 §5): %v", err)
	}
	ps := config.NewProblems(nil)
	if len(doc.Keys) == 0 {
		ps.Add("keys", "at least one private key is required")
	}
	var out []*SigningKey
	kids := map[string]bool{}
	for i, raw := range doc.Keys {
		at := fmt.Sprintf("keys[%d]", i)
		k, ok := parseKey(ps, at, raw)
		if !ok {
			continue
		}
		if kids[k.KID] {
			ps.Add(at+".kid", "%q is used by another key", k.KID)
			continue
		}
		kids[k.KID] = true
		out = append(out, k)
	}
	if err := ps.Err(file); err != nil {
		return nil, err
	}
	return newSet(out)
}

func parseKey(ps *config.Problems, at string, raw json.RawMessage) (*SigningKey, bool) {
	var m jwkset.JWKMarshal
	if err := json.Unmarshal(raw, &m); err != nil {
		ps.Add(at, "not a JWK: %v", err)
		return nil, false
	}
	switch m.KTY {
	case jwkset.KtyEC, jwkset.KtyOKP, jwkset.KtyRSA:
	default:
		// Before the d check: a symmetric key has no d, but it is not a public key.
		ps.Add(at+".kty", "%q keys cannot sign here; use EC P-256 (ES256), OKP Ed25519 (EdDSA) or RSA (RS256)", m.KTY)
		return nil, false
	}
	before := ps.Len()
	if m.KID == "" {
		ps.Add(at+".kid", "required: downstream verifiers pick the key by kid")
	}
	if m.USE != "" && m.USE != jwkset.UseSig {
		ps.Add(at+".use", "%q: a signing key must have use \"sig\"", m.USE)
	}
	if m.D == "" {
		ps.Add(at+".d", "missing: this is a public key; tokex needs the private key to sign")
	}
	if ps.Len() > before {
		return nil, false
	}
	jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{Private: true}, jwkset.JWKValidateOptions{})
	if err != nil {
		ps.Add(at, "not a usable private key: %v", err)
		return nil, false
	}
	alg := m.ALG.String()
	var want string
	switch key := jwk.Key().(type) {
	case *ecdsa.PrivateKey:
		if key.Curve != elliptic.P256() {
			ps.Add(at+".crv", "%q: only P-256 (ES256) EC keys are supported", m.CRV)
			return nil, false
		}
		// x and y of another key would make tokex sign tokens that its own
		// published JWKS cannot verify: the public half must be that of d.
		if !publicMatches(key) {
			ps.Add(at, "x and y are not the public key of d: tokens signed with it would not verify")
			return nil, false
		}
		want = ES256
	case ed25519.PrivateKey:
		want = EdDSA
	case *rsa.PrivateKey:
		if key.N.BitLen() < minRSABits {
			ps.Add(at+".n", "RSA key has %d bits; at least %d are required", key.N.BitLen(), minRSABits)
			return nil, false
		}
		want = RS256
	case *rsa.PublicKey:
		// RFC 7518 §6.3.2 lets a private RSA JWK carry d alone; signing needs the rest.
		ps.Add(at, "an RSA private key needs p, q, dp, dq and qi besides d (RFC 7518 §6.3.2)")
		return nil, false
	default:
		ps.Add(at+".kty", "%q keys cannot sign here; use EC P-256 (ES256), OKP Ed25519 (EdDSA) or RSA (RS256)", m.KTY)
		return nil, false
	}
	if alg == "" {
		alg = want
	} else if alg != want {
		ps.Add(at+".alg", "%q does not fit a %s key; use %s", alg, m.KTY, want)
		return nil, false
	}
	k, err := newSigningKey(m.KID, alg, jwk.Key().(crypto.Signer))
	if err != nil {
		ps.Add(at, "%v", err)
		return nil, false
	}
	return k, true
}

// publicMatches reports whether the public half of key is the one its d implies.
func publicMatches(key *ecdsa.PrivateKey) bool {
	d, err := key.Bytes()
	if err != nil {
		return false
	}
	derived, err := ecdsa.ParseRawPrivateKey(key.Curve, d)
	return err == nil && derived.PublicKey.Equal(&key.PublicKey)
}

func newSigningKey(kid, alg string, priv crypto.Signer) (*SigningKey, error) {
	method := jwt.GetSigningMethod(alg)
	if method == nil {
		return nil, fmt.Errorf("algorithm %q is not available", alg)
	}
	hdr, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{alg, kid, "at+jwt"})
	if err != nil {
		return nil, err
	}
	return &SigningKey{KID: kid, Alg: alg, method: method, key: priv, header: base64.RawURLEncoding.EncodeToString(hdr)}, nil
}

func newSet(all []*SigningKey) (*Set, error) {
	pub := jwkset.JWKSMarshal{Keys: make([]jwkset.JWKMarshal, 0, len(all))}
	for _, k := range all {
		jwk, err := jwkset.NewJWKFromKey(k.Public(), jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.ALG(k.Alg), KID: k.KID, USE: jwkset.UseSig},
		})
		if err != nil {
			return nil, fmt.Errorf("publish key %q: %w", k.KID, err)
		}
		pub.Keys = append(pub.Keys, jwk.Marshal())
	}
	doc, err := json.Marshal(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(doc)
	return &Set{
		active: all[0],
		all:    all,
		jwks:   doc,
		etag:   `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`,
	}, nil
}

// Thumbprint is the RFC 7638 JWK thumbprint of a public key, used as kid for
// generated keys.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	var canon string
	// RFC 7638 §3.2: required members only, lexicographic order, no spaces.
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		n := (k.Curve.Params().BitSize + 7) / 8
		ecdh, err := k.ECDH()
		if err != nil {
			return "", err
		}
		raw := ecdh.Bytes() // 0x04 || X || Y
		canon = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, k.Curve.Params().Name, b64(raw[1:1+n]), b64(raw[1+n:]))
	case ed25519.PublicKey:
		canon = fmt.Sprintf(`{"crv":"Ed25519","kty":"OKP","x":%q}`, b64(k))
	case *rsa.PublicKey:
		canon = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, b64(big.NewInt(int64(k.E)).Bytes()), b64(k.N.Bytes()))
	default:
		return "", fmt.Errorf("thumbprint: unsupported key type %T", pub)
	}
	sum := sha256.Sum256([]byte(canon))
	return b64(sum[:]), nil
}

// MarshalPrivate writes the set as a private JWKS document (for `tokex keys`).
func (s *Set) MarshalPrivate() ([]byte, error) {
	out := jwkset.JWKSMarshal{}
	for _, k := range s.all {
		jwk, err := jwkset.NewJWKFromKey(k.key, jwkset.JWKOptions{
			Marshal:  jwkset.JWKMarshalOptions{Private: true},
			Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.ALG(k.Alg), KID: k.KID, USE: jwkset.UseSig},
		})
		if err != nil {
			return nil, fmt.Errorf("marshal key %q: %w", k.KID, err)
		}
		out.Keys = append(out.Keys, jwk.Marshal())
	}
	return json.MarshalIndent(out, "", "  ")
}

func fileError(file, path, format string, args ...any) error {
	return &config.FileError{File: file, Problems: []config.Problem{{Path: path, Msg: fmt.Sprintf(format, args...)}}}
}
