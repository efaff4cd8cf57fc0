package keys

import (
	"bytes"
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
	"math/big"
	"os"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/config"
)

// minRSABits is the smallest RSA modulus accepted for signing (NIST SP 800-57).
const minRSABits = 2048

// rsaGenerateBits is the modulus of generated RSA keys.
const rsaGenerateBits = 3072

// maxKeyFileBytes bounds the keys file.
const maxKeyFileBytes = 1 << 20

// State is where a key is in its lifecycle.
type State string

// Key states, recorded per key in the keys file as tokex.state.
const (
	StateNext    State = "next"    // published, not signing yet
	StateActive  State = "active"  // signs new tokens; exactly one
	StateRetired State = "retired" // published until its tokens have expired
)

// Rotation timing defaults.
const (
	// DefaultMinNext is how long a key stays next before it may sign.
	DefaultMinNext = 10 * time.Minute
	// MinMinNext is the shortest min_next accepted: the JWKS max-age is half of it,
	// in whole seconds.
	MinMinNext = 2 * time.Second
)

// SigningKey is one key of the set with its lifecycle.
type SigningKey struct {
	KID   string
	Alg   string
	State State
	// Lifecycle times; zero when the file does not record them.
	CreatedAt, ActivatedAt, RetiredAt time.Time
	// PublishUntil is when a retired key leaves the JWKS: the last token it can
	// have signed has expired by then. Zero: published as long as it is in the file.
	PublishUntil time.Time

	signer  signer
	private crypto.PrivateKey // nil for a key held elsewhere (PKCS#11)
	pkcs11  json.RawMessage   // the key's tokex.pkcs11 member, kept for rewriting the file
	headers [3]string         // per Typ: computed once, they never change
}

// Typ is the kind of token a key signs, named by the JOSE typ header
// (RFC 8725 §3.11: explicit typing keeps one kind from being taken for another).
type Typ int

// The kinds of tokens tokex mints.
const (
	TypAccessToken Typ = iota // at+jwt (RFC 9068 §2.1)
	TypTxnToken               // txntoken+jwt (draft-ietf-oauth-transaction-tokens-10)
	TypIDJAG                  // oauth-id-jag+jwt (draft-ietf-oauth-identity-assertion-authz-grant-04)
)

var typNames = [...]string{TypAccessToken: api.TypAccessToken, TypTxnToken: api.TypTxnToken, TypIDJAG: api.TypIDJAG}

// Public returns the public half of the key.
func (k *SigningKey) Public() crypto.PublicKey { return k.signer.key.Public() }

// EncodedHeader is the base64url-encoded JOSE header {"alg","kid","typ":"at+jwt"}.
func (k *SigningKey) EncodedHeader() string { return k.headers[TypAccessToken] }

// EncodedHeaderFor is the base64url-encoded JOSE header of a token of kind t.
func (k *SigningKey) EncodedHeaderFor(t Typ) string { return k.headers[t] }

// Sign signs a JWS signing input (header.payload) and returns the raw signature.
func (k *SigningKey) Sign(signingInput string) ([]byte, error) {
	return k.signer.sign(signingInput)
}

// published reports whether the key belongs in the JWKS at now.
func (k *SigningKey) published(now time.Time) bool {
	return k.State != StateRetired || k.PublishUntil.IsZero() || k.PublishUntil.After(now)
}

// Set is an immutable key set: one active key that signs; next, active and
// retired keys still inside their tokens' lifetime published.
type Set struct {
	active    *SigningKey
	all       []*SigningKey
	published []*SigningKey
	jwks      []byte
	etag      string
	minNext   time.Duration
	stateful  bool // the file records states (false: the first key signs, all are published)
}

// Active is the key that signs new tokens.
func (s *Set) Active() *SigningKey { return s.active }

// Keys lists every key of the set in file order.
func (s *Set) Keys() []*SigningKey { return s.all }

// Published lists the keys of the JWKS, in file order.
func (s *Set) Published() []*SigningKey { return s.published }

// JWKS is the public JWK Set document (JSON).
func (s *Set) JWKS() []byte { return s.jwks }

// ETag is a strong validator of JWKS, for conditional GETs.
func (s *Set) ETag() string { return s.etag }

// MinNext is how long a key must be next before it may sign.
func (s *Set) MinNext() time.Duration { return s.minNext }

// MaxAge is how long downstream verifiers may cache the JWKS: half of MinNext.
// A next key added at a rotation reaches every cache within MaxAge after tokex
// serves it, and it signs no earlier than MinNext after it was written; the
// other half is the budget for getting the file to every replica.
func (s *Set) MaxAge() time.Duration { return (s.minNext / 2).Truncate(time.Second) }

// Generate makes an ephemeral one-key set; its private key lives only in memory.
func Generate(alg string) (*Set, error) {
	now := time.Now().UTC().Truncate(time.Second)
	k, err := generateKey(alg, StateActive, now)
	if err != nil {
		return nil, err
	}
	k.ActivatedAt = now
	return newSet([]*SigningKey{k}, DefaultMinNext, true, now)
}

func generateKey(alg string, state State, now time.Time) (*SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case ES256, "":
		alg = ES256
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case RS256, PS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaGenerateBits)
	default:
		return nil, fmt.Errorf("generate key: unsupported algorithm %q (use ES256, EdDSA, RS256 or PS256)", alg)
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
	k.private, k.State, k.CreatedAt = priv, state, now
	return k, nil
}

// LoadFile reads and fully validates a keys file: the one way tokex reads one,
// at start and on reload. Every problem is reported with its path in the file.
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

// Parse reads a private JWKS document as of now.
func Parse(data []byte, file string) (*Set, error) {
	return ParseAt(data, file, time.Now())
}

// fileDoc is the keys file: a JWK Set (RFC 7517 §5) with tokex's own members.
type fileDoc struct {
	Tokex json.RawMessage   `json:"tokex,omitempty"`
	Keys  []json.RawMessage `json:"keys"`
}

// fileSettings is the file's top-level tokex member.
type fileSettings struct {
	MinNext string `json:"min_next,omitempty"`
}

// keyMeta is a key's tokex member: its lifecycle, and where it lives when the
// private part is not in the file.
type keyMeta struct {
	State        State           `json:"state,omitempty"`
	CreatedAt    time.Time       `json:"created_at,omitzero"`
	ActivatedAt  time.Time       `json:"activated_at,omitzero"`
	RetiredAt    time.Time       `json:"retired_at,omitzero"`
	PublishUntil time.Time       `json:"publish_until,omitzero"`
	PKCS11       json.RawMessage `json:"pkcs11,omitempty"`
}

type fileKey struct {
	jwkset.JWKMarshal
	Tokex json.RawMessage `json:"tokex,omitempty"`
}

// ParseAt reads a private JWKS document, reporting every problem with its path;
// now decides which retired keys are still published.
func ParseAt(data []byte, file string, now time.Time) (*Set, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fileError(file, "", "the file is empty: write a private JWK Set into it (tokex keys generate prints one)")
	}
	var doc fileDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fileError(file, "", "not valid JSON at byte %d: the file is corrupt or truncated; restore it from its source", se.Offset)
		}
		return nil, fileError(file, "", "not a JSON JWK Set (RFC 7517 §5): %v", err)
	}
	ps := config.NewProblems(nil)
	minNext := DefaultMinNext
	if len(doc.Tokex) > 0 {
		var fs fileSettings
		if err := strictJSON(doc.Tokex, &fs); err != nil {
			ps.Add("tokex", "%v", err)
		} else if fs.MinNext != "" {
			d, err := time.ParseDuration(fs.MinNext)
			switch {
			case err != nil:
				ps.Add("tokex.min_next", "%q is not a duration such as 10m", fs.MinNext)
			case d < MinMinNext:
				ps.Add("tokex.min_next", "%s is shorter than the %s minimum", d, MinMinNext)
			default:
				minNext = d
			}
		}
	}
	if len(doc.Keys) == 0 {
		ps.Add("keys", "at least one private key is required")
	}
	var out []*SigningKey
	var paths []string
	kids := map[string]bool{}
	stateful := false
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
		stateful = stateful || k.State != ""
		out = append(out, k)
		paths = append(paths, at)
	}
	checkStates(ps, out, paths, stateful)
	if err := ps.Err(file); err != nil {
		return nil, err
	}
	if !stateful {
		// Files without states (before key rotation): the first key signs.
		out[0].State = StateActive
	}
	return newSet(out, minNext, stateful, now)
}

// checkStates: once one key has a state, all have one, with exactly one active
// and at most one next.
func checkStates(ps *config.Problems, ks []*SigningKey, paths []string, stateful bool) {
	if !stateful {
		return
	}
	var active, next []string
	for i, k := range ks {
		switch k.State {
		case "":
			ps.Add(paths[i]+".tokex.state", "missing: when one key has a state every key needs one (next, active or retired)")
		case StateActive:
			active = append(active, paths[i])
		case StateNext:
			next = append(next, paths[i])
		}
	}
	switch {
	case len(active) == 0 && len(ks) > 0:
		ps.Add("keys", "no key is active: exactly one key needs tokex.state \"active\" to sign tokens")
	case len(active) > 1:
		for _, p := range active[1:] {
			ps.Add(p+".tokex.state", "a second active key (%s is active): exactly one key signs; make the other next or retired", active[0])
		}
	}
	for _, p := range next[min(1, len(next)):] {
		ps.Add(p+".tokex.state", "a second next key (%s is next): at most one key waits to sign", next[0])
	}
}

func strictJSON(raw json.RawMessage, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func parseKey(ps *config.Problems, at string, raw json.RawMessage) (*SigningKey, bool) {
	var fk fileKey
	if err := json.Unmarshal(raw, &fk); err != nil {
		ps.Add(at, "not a JWK: %v", err)
		return nil, false
	}
	m := fk.JWKMarshal
	before := ps.Len()
	var meta keyMeta
	if len(fk.Tokex) > 0 {
		if err := strictJSON(fk.Tokex, &meta); err != nil {
			ps.Add(at+".tokex", "%v (members: state, created_at, activated_at, retired_at, publish_until, pkcs11)", err)
		}
		switch meta.State {
		case "", StateNext, StateActive, StateRetired:
		default:
			ps.Add(at+".tokex.state", "unknown state %q; use next, active or retired", meta.State)
		}
	}
	switch m.KTY {
	case jwkset.KtyEC, jwkset.KtyOKP, jwkset.KtyRSA:
	default:
		// Before the d check: a symmetric key has no d, but it is not a public key.
		ps.Add(at+".kty", "%q keys cannot sign here; use EC P-256 (ES256), OKP Ed25519 (EdDSA) or RSA (RS256, PS256)", m.KTY)
		return nil, false
	}
	if m.KID == "" {
		ps.Add(at+".kid", "required: downstream verifiers pick the key by kid")
	}
	if m.USE != "" && m.USE != jwkset.UseSig {
		ps.Add(at+".use", "%q: a signing key must have use \"sig\"", m.USE)
	}
	external := m.D == "" && len(meta.PKCS11) > 0
	if m.D == "" && !external {
		ps.Add(at+".d", "missing: this is a public key; tokex needs the private key to sign (or a tokex.pkcs11 member naming an HSM key)")
	}
	if m.D != "" && len(meta.PKCS11) > 0 {
		ps.Add(at+".tokex.pkcs11", "a key with d in the file cannot also live in an HSM; remove one of them")
	}
	if ps.Len() > before {
		return nil, false
	}
	jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{Private: !external}, jwkset.JWKValidateOptions{})
	if err != nil {
		ps.Add(at, "not a usable key: %v", err)
		return nil, false
	}
	var priv crypto.Signer
	var pub crypto.PublicKey
	switch key := jwk.Key().(type) {
	case *ecdsa.PrivateKey:
		// x and y of another key would make tokex sign tokens that its own
		// published JWKS cannot verify: the public half must be that of d.
		if key.Curve == elliptic.P256() && !publicMatches(key) {
			ps.Add(at, "x and y are not the public key of d: tokens signed with it would not verify")
			return nil, false
		}
		priv, pub = key, &key.PublicKey
	case ed25519.PrivateKey:
		priv, pub = key, key.Public()
	case *rsa.PrivateKey:
		priv, pub = key, &key.PublicKey
	case *rsa.PublicKey:
		if !external {
			// RFC 7518 §6.3.2 lets a private RSA JWK carry d alone; signing needs the rest.
			ps.Add(at, "an RSA private key needs p, q, dp, dq and qi besides d (RFC 7518 §6.3.2)")
			return nil, false
		}
		pub = key
	case *ecdsa.PublicKey, ed25519.PublicKey:
		pub = key
	default:
		ps.Add(at+".kty", "%q keys cannot sign here; use EC P-256 (ES256), OKP Ed25519 (EdDSA) or RSA (RS256, PS256)", m.KTY)
		return nil, false
	}
	alg, ok := algFor(ps, at, pub, m.ALG.String(), string(m.KTY), string(m.CRV))
	if !ok {
		return nil, false
	}
	if external {
		s, err := openPKCS11(meta.PKCS11, pub)
		if err != nil {
			ps.Add(at+".tokex.pkcs11", "%v", err)
			return nil, false
		}
		priv = s
	}
	k, err := newSigningKey(m.KID, alg, priv)
	if err != nil {
		ps.Add(at, "%v", err)
		return nil, false
	}
	if !external {
		k.private = priv
	}
	k.pkcs11 = meta.PKCS11
	k.State, k.CreatedAt, k.ActivatedAt, k.RetiredAt, k.PublishUntil = meta.State, meta.CreatedAt, meta.ActivatedAt, meta.RetiredAt, meta.PublishUntil
	return k, true
}

// algFor checks alg fits the key and fills it in when absent.
func algFor(ps *config.Problems, at string, pub crypto.PublicKey, alg, kty, crv string) (string, bool) {
	var fits []string
	switch key := pub.(type) {
	case *ecdsa.PublicKey:
		if key.Curve != elliptic.P256() {
			ps.Add(at+".crv", "%q: only P-256 (ES256) EC keys are supported", crv)
			return "", false
		}
		fits = []string{ES256}
	case ed25519.PublicKey:
		fits = []string{EdDSA}
	case *rsa.PublicKey:
		if key.N.BitLen() < minRSABits {
			ps.Add(at+".n", "RSA key has %d bits; at least %d are required", key.N.BitLen(), minRSABits)
			return "", false
		}
		fits = []string{RS256, PS256}
	}
	if alg == "" {
		return fits[0], true
	}
	for _, f := range fits {
		if alg == f {
			return alg, true
		}
	}
	ps.Add(at+".alg", "%q does not fit a %s key; use %s", alg, kty, joinOr(fits))
	return "", false
}

func joinOr(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return fmt.Sprintf("%s or %s", s[0], s[1])
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

func newSigningKey(kid, alg string, key crypto.Signer) (*SigningKey, error) {
	s, err := newSigner(alg, key)
	if err != nil {
		return nil, err
	}
	k := &SigningKey{KID: kid, Alg: alg, signer: s}
	for t, typ := range typNames {
		if k.headers[t], err = encodeHeader(alg, kid, typ); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// newSet builds a set with exactly one active key; now decides which retired
// keys are still published.
func newSet(all []*SigningKey, minNext time.Duration, stateful bool, now time.Time) (*Set, error) {
	s := &Set{all: all, minNext: minNext, stateful: stateful}
	for _, k := range all {
		if k.State == StateActive {
			if s.active != nil {
				return nil, fmt.Errorf("%w: %q and %q", ErrTwoActive, s.active.KID, k.KID)
			}
			s.active = k
		}
		if k.published(now) {
			s.published = append(s.published, k)
		}
	}
	if s.active == nil {
		return nil, ErrNoActive
	}
	pub := jwkset.JWKSMarshal{Keys: make([]jwkset.JWKMarshal, 0, len(s.published))}
	for _, k := range s.published {
		m, err := publicJWK(k)
		if err != nil {
			return nil, err
		}
		pub.Keys = append(pub.Keys, m)
	}
	doc, err := json.Marshal(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(doc)
	s.jwks = doc
	s.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	return s, nil
}

func publicJWK(k *SigningKey) (jwkset.JWKMarshal, error) {
	jwk, err := jwkset.NewJWKFromKey(k.Public(), jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.ALG(k.Alg), KID: k.KID, USE: jwkset.UseSig},
	})
	if err != nil {
		return jwkset.JWKMarshal{}, fmt.Errorf("publish key %q: %w", k.KID, err)
	}
	return jwk.Marshal(), nil
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

// MarshalPrivate writes the set as a keys file: a private JWKS with each key's
// lifecycle in its tokex member (files without states stay without them).
func (s *Set) MarshalPrivate() ([]byte, error) {
	var out struct {
		Tokex *fileSettings `json:"tokex,omitempty"`
		Keys  []fileKeyOut  `json:"keys"`
	}
	if s.stateful {
		out.Tokex = &fileSettings{MinNext: s.minNext.String()}
	}
	for _, k := range s.all {
		var m jwkset.JWKMarshal
		if k.private != nil {
			jwk, err := jwkset.NewJWKFromKey(k.private, jwkset.JWKOptions{
				Marshal:  jwkset.JWKMarshalOptions{Private: true},
				Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.ALG(k.Alg), KID: k.KID, USE: jwkset.UseSig},
			})
			if err != nil {
				return nil, fmt.Errorf("marshal key %q: %w", k.KID, err)
			}
			m = jwk.Marshal()
		} else {
			var err error
			if m, err = publicJWK(k); err != nil {
				return nil, err
			}
		}
		fk := fileKeyOut{JWKMarshal: m}
		if s.stateful || k.pkcs11 != nil {
			meta := &keyMeta{CreatedAt: k.CreatedAt, ActivatedAt: k.ActivatedAt, RetiredAt: k.RetiredAt, PublishUntil: k.PublishUntil, PKCS11: k.pkcs11}
			if s.stateful {
				meta.State = k.State
			}
			fk.Tokex = meta
		}
		out.Keys = append(out.Keys, fk)
	}
	return json.MarshalIndent(out, "", "  ")
}

type fileKeyOut struct {
	jwkset.JWKMarshal
	Tokex *keyMeta `json:"tokex,omitempty"`
}

func fileError(file, path, format string, args ...any) error {
	return &config.FileError{File: file, Problems: []config.Problem{{Path: path, Msg: fmt.Sprintf(format, args...)}}}
}
