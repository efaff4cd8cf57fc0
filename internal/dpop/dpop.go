package dpop

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tokex/tokex/internal/jws"
	"github.com/tokex/tokex/internal/replay"
)

// DefaultAlgorithms are the proof algorithms accepted by default: asymmetric
// only (RFC 9449 §4.3 step 5).
// Ed25519 is the fully-specified name of EdDSA over Ed25519 (RFC 9864 §2),
// which current clients (oauth4webapi) sign proofs with.
var DefaultAlgorithms = []string{"ES256", "ES384", "RS256", "PS256", "EdDSA", "Ed25519"}

// DefaultWindow is how far iat may be from now, each way.
const DefaultWindow = 60 * time.Second

// MaxProofBytes bounds a proof before any parsing.
const MaxProofBytes = 8 << 10

// Reason names a failed check, stable and low-cardinality (audit, spans).
type Reason string

const (
	ReasonHeader      Reason = "dpop_header"      // not exactly one DPoP header
	ReasonMalformed   Reason = "dpop_malformed"   // not one compact JWS, or claims of the wrong type
	ReasonType        Reason = "dpop_typ"         // typ is not dpop+jwt
	ReasonAlgorithm   Reason = "dpop_alg"         // alg not asymmetric or not allowed
	ReasonKey         Reason = "dpop_jwk"         // jwk missing, private or unusable
	ReasonSignature   Reason = "dpop_signature"   // does not verify with jwk
	ReasonClaims      Reason = "dpop_claims"      // jti, htm, htu or iat missing
	ReasonMethod      Reason = "dpop_htm"         // htm is not the request's method
	ReasonURI         Reason = "dpop_htu"         // htu is not the request's URL
	ReasonTime        Reason = "dpop_iat"         // iat outside the window
	ReasonReplay      Reason = "dpop_replay"      // jti seen before
	ReasonNonce       Reason = "dpop_nonce"       // nonce missing, stale or unknown: use_dpop_nonce
	ReasonAccessToken Reason = "dpop_ath"         // ath missing or not the token's hash (resource servers)
	ReasonUnavailable Reason = "dpop_unavailable" // the replay cache cannot answer: fail closed
)

// Error is a refused proof. Description is safe for the client.
type Error struct {
	Reason      Reason
	Description string
	Err         error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Reason, e.Description, e.Err)
	}
	return string(e.Reason) + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Err }

func refuse(r Reason, err error, format string, args ...any) *Error {
	return &Error{Reason: r, Err: err, Description: fmt.Sprintf(format, args...)}
}

// Options build a Verifier.
type Options struct {
	Algorithms []string      // default DefaultAlgorithms
	Window     time.Duration // iat tolerance each way; default DefaultWindow
	Replay     replay.Cache  // required: where proof jtis are recorded
	Nonces     *Nonces       // required to check nonces
	Now        func() time.Time
}

// Verifier checks proofs.
type Verifier struct {
	o       Options
	headers jws.HeaderCache // a client's proofs share one header: typ, alg, jwk
	keys    keyCache
}

// NewVerifier returns a Verifier.
func NewVerifier(o Options) *Verifier {
	if len(o.Algorithms) == 0 {
		o.Algorithms = DefaultAlgorithms
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Nonces == nil {
		o.Nonces = NewNonces(NonceOptions{Now: o.Now})
	}
	return &Verifier{o: o}
}

// Algorithms are the accepted proof algorithms, for metadata
// (dpop_signing_alg_values_supported).
func (v *Verifier) Algorithms() []string { return slices.Clone(v.o.Algorithms) }

// Nonce issues a fresh nonce.
func (v *Verifier) Nonce() string { return v.o.Nonces.Issue() }

// Request is what a proof is checked against.
type Request struct {
	Headers     []string // every value of the DPoP header
	Method      string   // the HTTP method
	URL         string   // the URL the proof must name: scheme, host, path
	AccessToken string   // at a resource server, the token the proof must hash (ath); "" at the token endpoint
	NeedNonce   bool     // a server-provided nonce is required
	// DeferReplay leaves the replay check to the caller, who records
	// Proof.ReplayKey until Proof.ReplayUntil (and answers Replayed or
	// Unavailable): a token endpoint on a shared store does it in the same
	// round trip as its rate limits.
	DeferReplay bool
}

// Proof is a proof that passed every check.
type Proof struct {
	JKT string    // RFC 7638 SHA-256 thumbprint of the proof key, base64url
	JTI string    // the proof's jti
	IAT time.Time // the proof's iat
	// ReplayKey is what the replay check records (a hash, never the proof),
	// until ReplayUntil.
	ReplayKey   string
	ReplayUntil time.Time
}

type proofClaims struct {
	JTI   string          `json:"jti"`
	HTM   string          `json:"htm"`
	HTU   string          `json:"htu"`
	IAT   jws.NumericDate `json:"iat"`
	Nonce *string         `json:"nonce"`
	ATH   *string         `json:"ath"`
}

// jwt.Claims: the time checks are the Verifier's own (a window both ways).
func (c *proofClaims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (c *proofClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c *proofClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IAT.Get() }
func (c *proofClaims) GetIssuer() (string, error)                   { return "", nil }
func (c *proofClaims) GetSubject() (string, error)                  { return "", nil }
func (c *proofClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// Verify runs the checks of RFC 9449 §4.3 in order. A *Error says which
// failed; ReasonNonce asks the caller to answer use_dpop_nonce with a fresh
// nonce (§8), ReasonUnavailable to answer temporarily_unavailable.
func (v *Verifier) Verify(ctx context.Context, r Request) (*Proof, error) {
	// 1 and 2. Exactly one DPoP header, holding one compact JWS.
	if len(r.Headers) != 1 {
		return nil, refuse(ReasonHeader, nil, "send exactly one DPoP header (this request has %d)", len(r.Headers))
	}
	raw := r.Headers[0]
	if len(raw) > MaxProofBytes {
		return nil, refuse(ReasonMalformed, nil, "the DPoP proof is %d bytes; at most %d are accepted", len(raw), MaxProofBytes)
	}
	claims := &proofClaims{}
	tok, err := jws.Parse(raw, claims, &v.headers)
	if err != nil {
		return nil, refuse(ReasonMalformed, err, "the DPoP header must hold one signed JWT (JWS compact serialization) with claims of the right types")
	}
	// 4. typ (RFC 9449 §4.2): explicit typing keeps other JWTs out.
	if typ, _ := tok.Header["typ"].(string); typ != "dpop+jwt" {
		return nil, refuse(ReasonType, nil, "the DPoP proof's typ header must be dpop+jwt")
	}
	// 5. alg: asymmetric, in the allowlist; never none, never HMAC.
	alg, _ := tok.Header["alg"].(string)
	if !slices.Contains(v.o.Algorithms, alg) || tok.Method == nil {
		return nil, refuse(ReasonAlgorithm, nil, "DPoP proof algorithm %q is not allowed (allowed: %s)", jws.Clip(alg), strings.Join(v.o.Algorithms, ", "))
	}
	// 6 and 7. The signature verifies with the header's jwk, a public key.
	seg, _, _ := strings.Cut(raw, ".")
	key, err := v.keys.key(seg, tok.Header)
	if err != nil {
		return nil, err
	}
	if err := tok.Method.Verify(jws.SigningInput(raw), tok.Signature, key.pub); err != nil {
		return nil, refuse(ReasonSignature, err, "the DPoP proof's signature does not verify with the key in its jwk header")
	}
	// 3. The required claims (RFC 9449 §4.2).
	var missing []string
	for _, c := range []struct {
		name string
		ok   bool
	}{{"jti", claims.JTI != ""}, {"htm", claims.HTM != ""}, {"htu", claims.HTU != ""}, {"iat", claims.IAT.Set()}} {
		if !c.ok {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		return nil, refuse(ReasonClaims, nil, "the DPoP proof lacks %s (jti, htm, htu and iat are required)", strings.Join(missing, ", "))
	}
	if len(claims.JTI) > 256 {
		return nil, refuse(ReasonClaims, nil, "the DPoP proof's jti is longer than 256 characters")
	}
	// 8. htm.
	if claims.HTM != r.Method {
		return nil, refuse(ReasonMethod, nil, "the DPoP proof's htm %q is not this request's method %s", jws.Clip(claims.HTM), r.Method)
	}
	// 9. htu, without query and fragment (RFC 9449 §4.3).
	if !SameURI(claims.HTU, r.URL) {
		return nil, refuse(ReasonURI, nil, "the DPoP proof's htu %q is not this endpoint, %s", jws.Clip(claims.HTU), r.URL)
	}
	// 11. iat within the window, each way.
	now := v.o.Now()
	iat := claims.IAT.Time()
	if d := now.Sub(iat); d > v.o.Window || d < -v.o.Window {
		return nil, refuse(ReasonTime, nil, "the DPoP proof's iat %s is more than %s from now (%s): check the client's clock and make a new proof per request",
			claims.IAT.String(), v.o.Window, now.UTC().Truncate(time.Second).Format(time.RFC3339))
	}
	// At a resource server: ath is the hash of the token presented with it
	// (RFC 9449 §4.3 step 12, §7).
	if r.AccessToken != "" {
		sum := sha256.Sum256([]byte(r.AccessToken))
		if claims.ATH == nil || *claims.ATH != base64.RawURLEncoding.EncodeToString(sum[:]) {
			return nil, refuse(ReasonAccessToken, nil, "the DPoP proof's ath is missing or is not the hash of the access token sent with it")
		}
	}
	// jti not seen before within the window, on any replica sharing the cache.
	rk, until := replayKey(key.jkt, claims.JTI), iat.Add(v.o.Window).Add(v.o.Window)
	if !r.DeferReplay {
		fresh, err := v.o.Replay.Use(ctx, rk, until)
		switch {
		case err != nil:
			return nil, Unavailable(err)
		case !fresh:
			return nil, Replayed()
		}
	}
	// 10. The nonce, when one is required (RFC 9449 §8).
	if r.NeedNonce {
		switch {
		case claims.Nonce == nil:
			return nil, refuse(ReasonNonce, nil, "a DPoP nonce is required: retry with the nonce in the DPoP-Nonce header of this response")
		case !v.o.Nonces.Valid(*claims.Nonce):
			return nil, refuse(ReasonNonce, nil, "the DPoP proof's nonce is stale or was not issued by this server: retry with the nonce in the DPoP-Nonce header of this response")
		}
	}
	return &Proof{JKT: key.jkt, JTI: claims.JTI, IAT: iat, ReplayKey: rk, ReplayUntil: until}, nil
}

// Replayed is the refusal of a proof whose jti was seen before.
func Replayed() *Error {
	return refuse(ReasonReplay, nil, "the DPoP proof was already used (its jti was seen before): make a new proof for every request")
}

// Unavailable is the refusal of a proof that cannot be checked for replay
// (fail closed: never accepted unchecked).
func Unavailable(err error) *Error {
	return refuse(ReasonUnavailable, err, "DPoP proofs cannot be checked for replay right now; try again shortly")
}

// replayKey is what the replay cache records: a hash, never the proof.
func replayKey(jkt, jti string) string {
	sum := sha256.Sum256([]byte(jkt + "\x00" + jti))
	return "dpop:" + hex.EncodeToString(sum[:16])
}

// SameURI compares an htu with the endpoint URL as RFC 9449 §4.3 asks:
// scheme and host case-insensitive, default ports implied, without query and
// fragment; the path compared exactly.
func SameURI(htu, endpoint string) bool {
	if htu == endpoint {
		return true // what clients send: no parsing on the common path
	}
	a, err1 := url.Parse(htu)
	b, err2 := url.Parse(endpoint)
	if err1 != nil || err2 != nil || a.Opaque != "" || a.User != nil {
		return false
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && hostPort(a) == hostPort(b) && a.EscapedPath() == b.EscapedPath()
}

func hostPort(u *url.URL) string {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	switch {
	case port == "" && strings.EqualFold(u.Scheme, "https"):
		port = "443"
	case port == "" && strings.EqualFold(u.Scheme, "http"):
		port = "80"
	}
	return host + ":" + port
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of a public key, base64url:
// the value of cnf.jkt (RFC 9449 §6.1).
func Thumbprint(pub crypto.PublicKey) (string, error) {
	k := jose.JSONWebKey{Key: pub}
	b, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// privateMembers are JWK members that only a private key has (RFC 7518 §6).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// proofKey is a parsed jwk header: its key and thumbprint.
type proofKey struct {
	pub any
	jkt string
}

// keyCache keeps parsed jwk headers by the encoded header segment: a client
// signs every proof with the same header, and parsing its key (curve point
// checks, big integers) would otherwise run on every request. Only keys that
// parse are kept; emptied when full.
type keyCache struct {
	m sync.Map // encoded header segment -> *proofKey
	n atomic.Int32
}

const keyCacheSize = 1024

func (c *keyCache) key(seg string, header map[string]any) (*proofKey, error) {
	if v, ok := c.m.Load(seg); ok {
		return v.(*proofKey), nil
	}
	j, ok := header["jwk"].(map[string]any)
	if !ok {
		return nil, refuse(ReasonKey, nil, "the DPoP proof's jwk header must hold the public key that signed it")
	}
	for _, m := range privateMembers {
		if _, ok := j[m]; ok {
			return nil, refuse(ReasonKey, nil, "the DPoP proof's jwk header holds a private key (member %q): send only the public key", m)
		}
	}
	raw, err := json.Marshal(j)
	if err != nil {
		return nil, refuse(ReasonKey, err, "the DPoP proof's jwk header cannot be read")
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil || !jwk.Valid() || !jwk.IsPublic() {
		if err == nil {
			err = errors.New("not a valid public key")
		}
		return nil, refuse(ReasonKey, err, "the DPoP proof's jwk header is not a usable public key")
	}
	jkt, err := Thumbprint(jwk.Key)
	if err != nil {
		return nil, refuse(ReasonKey, err, "the DPoP proof's jwk header is not a usable public key")
	}
	k := &proofKey{pub: jwk.Key, jkt: jkt}
	if len(seg) <= jws.HeaderCacheMaxKey*4 {
		if c.n.Add(1) > keyCacheSize {
			c.m.Clear()
			c.n.Store(1)
		}
		c.m.Store(seg, k)
	}
	return k, nil
}
