package variants

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Key ids of the published keys.
const (
	KIDRSA = "rsa-1"
	KIDEC  = "ec-1"
)

// Keys are the signing keys: RSA (RS256) and EC P-256 (ES256) are published
// in JWKS; Foreign is an RSA key nobody publishes.
type Keys struct {
	RSA     *rsa.PrivateKey
	EC      *ecdsa.PrivateKey
	Foreign *rsa.PrivateKey
}

// NewKeys generates the keys (RSA-2048).
func NewKeys() (*Keys, error) {
	var k Keys
	var err error
	if k.RSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if k.Foreign, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if k.EC, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	return &k, nil
}

// JWKS is the public JWK Set of the published keys, with kid, alg and use.
func (k *Keys) JWKS() ([]byte, error) {
	var set jwkset.JWKSMarshal
	for _, p := range []struct {
		pub any
		kid string
		alg jwkset.ALG
	}{{&k.RSA.PublicKey, KIDRSA, jwkset.AlgRS256}, {&k.EC.PublicKey, KIDEC, jwkset.AlgES256}} {
		jwk, err := jwkset.NewJWKFromKey(p.pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: p.kid, ALG: p.alg, USE: jwkset.UseSig}})
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	return json.Marshal(set)
}

// Policy is what a verifier of the variants checks; the valid token is
// made to pass it.
type Policy struct {
	Issuer   string
	Audience string
	Subject  string
	Now      time.Time // whole seconds
	Leeway   time.Duration
}

// Variant is one generated token.
type Variant struct {
	Index  int
	Kinds  []string // the kinds of its mutations (e.g. "claims.nbf"); none for a valid token
	Desc   string   // its mutations, readable
	Token  string
	Claims []byte // the claims segment's JSON, as signed
	Refuse string // non-empty: a verifier must refuse it, and the rule that says so
}

// Valid reports whether the variant is the unmutated, valid token.
func (v Variant) Valid() bool { return len(v.Kinds) == 0 }

// Pinned is how many variants at the start of every Generate have the same
// mutations whatever the seed: two valid tokens (RS256, ES256), then the
// mutations of known parser differentials, so a short run still has them.
func Pinned() int { return 2 + len(pinned) }

// Generate returns n variants from seed. Variant i depends only on seed, i,
// keys and p. With nil keys the signature segment is empty (for checks of
// the claims alone).
func Generate(seed uint64, n int, keys *Keys, p Policy) []Variant {
	out := make([]Variant, n)
	for i := range out {
		out[i] = one(seed, i, keys, p)
	}
	return out
}

func one(seed uint64, i int, keys *Keys, p Policy) Variant {
	b := newBuild(mrand.New(mrand.NewPCG(seed, uint64(i))), keys, p)
	switch {
	case i == 0:
		b.useAlg("RS256")
	case i == 1:
		b.useAlg("ES256")
	case i-2 < len(pinned):
		pinned[i-2].apply(b)
		b.kinds = append(b.kinds, pinned[i-2].kind)
	default:
		for range 1 + b.r.IntN(3) {
			m := mutations[b.r.IntN(len(mutations))]
			m.apply(b)
			b.kinds = append(b.kinds, m.kind)
		}
	}
	v := b.finish()
	v.Index = i
	return v
}

// member is one JSON object member, name and value as raw JSON text, so
// that duplicate, escaped and odd members can be written.
type member struct{ name, value string }

type object []member

func (o object) text() string {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(m.name)
		sb.WriteByte(':')
		sb.WriteString(m.value)
	}
	sb.WriteByte('}')
	return sb.String()
}

// set replaces the value of the first member named name (however its name
// is spelled: "\u0069ss" is iss), or appends it.
func (o *object) set(name, value string) {
	for i := range *o {
		if nameOf((*o)[i].name) == name {
			(*o)[i].value = value
			return
		}
	}
	*o = append(*o, member{quote(name), value})
}

// del removes every member named name, however spelled.
func (o *object) del(name string) {
	*o = slices.DeleteFunc(*o, func(m member) bool { return nameOf(m.name) == name })
}

func (o object) get(name string) string {
	for _, m := range o {
		if nameOf(m.name) == name {
			return m.value
		}
	}
	return ""
}

// nameOf is the name a raw JSON member name stands for.
func nameOf(raw string) string {
	var s string
	if json.Unmarshal([]byte(raw), &s) != nil {
		return raw
	}
	return s
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// build is a variant being made.
type build struct {
	r      *mrand.Rand
	keys   *Keys
	p      Policy
	alg    string // the header's alg before mutations: RS256 or ES256
	signer string // RS256, ES256, foreign, HS256-pubkey, ES256-DER, none
	hdr    object
	claims object

	hdrWrap, claimsWrap func(string) string // change the JSON text of the header or claims

	preSign  []func(parts *[3]string) // on the encoded header and claims
	postSign []func(parts *[3]string) // on all three segments
	onToken  []func(tok string) string

	desc   []string
	kinds  []string
	refuse map[string]string // rule by what it is about ("claim aud", "segment 1", ...): a later mutation of the same replaces it
}

func newBuild(r *mrand.Rand, keys *Keys, p Policy) *build {
	id := func(s string) string { return s }
	b := &build{r: r, keys: keys, p: p, hdrWrap: id, claimsWrap: id, refuse: map[string]string{}}
	now := p.Now.Unix()
	b.claims = object{
		{quote("iss"), quote(p.Issuer)},
		{quote("sub"), quote(p.Subject)},
	}
	if r.IntN(2) == 0 {
		b.claims.set("aud", quote(p.Audience))
	} else {
		b.claims.set("aud", "["+quote(p.Audience)+"]")
	}
	b.claims.set("iat", strconv.FormatInt(now-10, 10))
	if r.IntN(2) == 0 {
		b.claims.set("nbf", strconv.FormatInt(now-10, 10))
	}
	b.claims.set("exp", strconv.FormatInt(now+600, 10))
	b.claims.set("jti", quote(fmt.Sprintf("j-%08x", r.Uint32())))
	if r.IntN(2) == 0 {
		b.useAlg("RS256")
	} else {
		b.useAlg("ES256")
	}
	return b
}

// useAlg resets the header to the valid one for alg.
func (b *build) useAlg(alg string) {
	kid := KIDRSA
	if alg == "ES256" {
		kid = KIDEC
	}
	b.alg, b.signer = alg, alg
	maps.DeleteFunc(b.refuse, func(what, _ string) bool { return strings.HasPrefix(what, "header ") })
	b.hdr = object{{quote("alg"), quote(alg)}, {quote("kid"), quote(kid)}}
	if b.r.IntN(2) == 0 {
		b.hdr.set("typ", quote("JWT"))
	}
}

func (b *build) note(format string, args ...any) {
	b.desc = append(b.desc, fmt.Sprintf(format, args...))
}

// mustRefuse records the rule that refuses the variant for what (a claim,
// a header, a segment); an empty rule clears what an earlier mutation of the
// same said.
func (b *build) mustRefuse(what, rule string) {
	if rule == "" {
		delete(b.refuse, what)
	} else {
		b.refuse[what] = rule
	}
}

func (b *build) finish() Variant {
	hj, cj := b.hdrWrap(b.hdr.text()), b.claimsWrap(b.claims.text())
	enc := base64.RawURLEncoding
	parts := [3]string{enc.EncodeToString([]byte(hj)), enc.EncodeToString([]byte(cj))}
	for _, f := range b.preSign {
		f(&parts)
	}
	if b.keys != nil {
		parts[2] = enc.EncodeToString(b.sign(parts[0] + "." + parts[1]))
	}
	for _, f := range b.postSign {
		f(&parts)
	}
	tok := strings.Join(parts[:], ".")
	for _, f := range b.onToken {
		tok = f(tok)
	}
	desc := b.alg + " valid"
	if len(b.desc) > 0 {
		desc = b.alg + ": " + strings.Join(b.desc, "; ")
	}
	rules := slices.Compact(slices.Sorted(maps.Values(b.refuse)))
	return Variant{Kinds: b.kinds, Desc: desc, Token: tok, Claims: []byte(cj), Refuse: strings.Join(rules, "; ")}
}

func (b *build) sign(input string) []byte {
	var (
		m   jwt.SigningMethod
		key any
	)
	switch b.signer {
	case "none":
		return nil
	case "RS256":
		m, key = jwt.SigningMethodRS256, b.keys.RSA
	case "foreign":
		m, key = jwt.SigningMethodRS256, b.keys.Foreign
	case "ES256", "ES256-DER":
		m, key = jwt.SigningMethodES256, b.keys.EC
	case "HS256-pubkey":
		der, _ := x509.MarshalPKIXPublicKey(&b.keys.RSA.PublicKey)
		m, key = jwt.SigningMethodHS256, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	sig, err := m.Sign(input, key)
	if err != nil {
		panic(fmt.Sprintf("variants: sign with %s: %v", b.signer, err)) // a bug here, not a variant
	}
	if b.signer == "ES256-DER" {
		sig = derECDSA(sig)
	}
	return sig
}

// derECDSA re-encodes a JWS ES256 signature (r||s, RFC 7518 §3.4) as the
// ASN.1 DER that X.509 uses and JWS does not.
func derECDSA(raw []byte) []byte {
	intDER := func(x []byte) []byte {
		x = []byte(strings.TrimLeft(string(x), "\x00"))
		if len(x) == 0 || x[0]&0x80 != 0 {
			x = append([]byte{0}, x...)
		}
		return append([]byte{0x02, byte(len(x))}, x...)
	}
	body := append(intDER(raw[:32]), intDER(raw[32:])...)
	return append([]byte{0x30, byte(len(body))}, body...)
}

// Defaults of Params.
const (
	DefaultSeed = 0x70ce5
	DefaultN    = 3000
)

// Params reads the seed and the number of variants of a run from
// TOKEX_DIFF_SEED and TOKEX_DIFF_N (decimal or 0x hex), with defaults.
func Params(getenv func(string) string) (seed uint64, n int, err error) {
	seed, n = DefaultSeed, DefaultN
	if s := getenv("TOKEX_DIFF_SEED"); s != "" {
		if seed, err = strconv.ParseUint(s, 0, 64); err != nil {
			return 0, 0, fmt.Errorf("TOKEX_DIFF_SEED: %w", err)
		}
	}
	if s := getenv("TOKEX_DIFF_N"); s != "" {
		if n, err = strconv.Atoi(s); err != nil || n < Pinned() {
			return 0, 0, fmt.Errorf("TOKEX_DIFF_N=%q: want an integer of at least %d", s, Pinned())
		}
	}
	return seed, n, nil
}
