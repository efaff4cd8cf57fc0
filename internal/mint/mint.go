package mint

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tokex/tokex/internal/keys"
)

// Input is what goes into one token.
type Input struct {
	Subject  string
	ClientID string
	Audience string
	Scopes   []string
	Expiry   time.Time // already capped by rule, max_lifetime and the subject token
	Act      *Act      // the delegation chain; nil for impersonation
	Cnf      *Cnf      // the sender constraint; nil for a bearer token
	// Extra are claims mapped by the rule (never a registered claim: config
	// validation refuses those), added after the RFC 9068 claims; an ID-JAG's
	// optional claims carried from the ID token.
	Extra map[string]any

	// Kind is what the token is: an access token (the zero value), a
	// Txn-Token or an ID-JAG; its typ header says so.
	Kind keys.Typ
	// Txn-Token claims (draft-ietf-oauth-transaction-tokens-10): the
	// transaction, the requesting workloads (oldest first), the transaction
	// and request context.
	Txn        string
	ReqWL      []string
	Tctx, Rctx map[string]any
}

// Cnf is the cnf claim (RFC 7800 §3.1) of a sender-constrained token: the
// DPoP key's thumbprint (RFC 9449 §6.1) and/or the client certificate's
// (RFC 8705 §3.1).
type Cnf struct {
	JKT string `json:"jkt,omitempty"`
	X5T string `json:"x5t#S256,omitempty"`
}

// Act is the act claim (RFC 8693 §4.1): the current actor, and the actors
// before it nested inside.
type Act struct {
	Sub string `json:"sub"`
	Iss string `json:"iss,omitempty"`
	Act *Act   `json:"act,omitempty"`
}

// Depth is the number of actors in the chain.
func (a *Act) Depth() int {
	n := 0
	for ; a != nil; a = a.Act {
		n++
	}
	return n
}

// Token is a signed access token and the facts the audit event records.
type Token struct {
	Raw       string
	JTI       string
	KID       string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// claims of RFC 9068 §2.2, in a fixed struct so encoding is cheap and stable.
type claims struct {
	Iss      string `json:"iss"`
	Sub      string `json:"sub"`
	Aud      string `json:"aud"`
	Exp      int64  `json:"exp"`
	Iat      int64  `json:"iat"`
	Nbf      int64  `json:"nbf"`
	Jti      string `json:"jti"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	Act      *Act   `json:"act,omitempty"`
	Cnf      *Cnf   `json:"cnf,omitempty"`
}

// Minter signs tokens with the active key of the current key set.
type Minter struct {
	issuer string
	keys   *atomic.Pointer[keys.Set]
	now    func() time.Time
}

// New returns a minter for issuer. ks is read on every token, so a key set swap
// takes effect at once.
func New(issuer string, ks *atomic.Pointer[keys.Set], now func() time.Time) *Minter {
	if now == nil {
		now = time.Now
	}
	return &Minter{issuer: issuer, keys: ks, now: now}
}

// Keys is the current key set: its published keys verify what Mint signed.
// nil when the minter has none (explain).
func (m *Minter) Keys() *keys.Set {
	if m.keys == nil {
		return nil
	}
	return m.keys.Load()
}

// Issuer is the iss of minted tokens.
func (m *Minter) Issuer() string { return m.issuer }

// Mint signs one token. Callers check Expiry is at least a second ahead.
func (m *Minter) Mint(in Input) (Token, error) {
	now := m.now().Truncate(time.Second)
	exp := in.Expiry.Truncate(time.Second)
	if !exp.After(now) {
		return Token{}, fmt.Errorf("mint: expiry %s is not after now %s", exp, now)
	}
	jti, err := newJTI()
	if err != nil {
		return Token{}, err
	}
	body, err := m.encode(in, now, exp, jti)
	if err != nil {
		return Token{}, err
	}
	k := m.keys.Load().Active()
	hdr := k.EncodedHeaderFor(in.Kind)
	// One buffer for the whole token: the signature (at most 512 bytes for
	// RSA-4096) is appended to the signing input it signs. As strings.Builder
	// does, strings share the buffer's bytes: appends only write past them.
	b := make([]byte, 0, len(hdr)+1+base64.RawURLEncoding.EncodedLen(len(body))+1+base64.RawURLEncoding.EncodedLen(512))
	b = append(b, hdr...)
	b = append(b, '.')
	b = base64.RawURLEncoding.AppendEncode(b, body)
	sig, err := k.Sign(unsafe.String(unsafe.SliceData(b), len(b)))
	if err != nil {
		return Token{}, fmt.Errorf("mint: sign with key %q: %w", k.KID, err)
	}
	b = append(b, '.')
	b = base64.RawURLEncoding.AppendEncode(b, sig)
	return Token{Raw: unsafe.String(unsafe.SliceData(b), len(b)), JTI: jti, KID: k.KID, IssuedAt: now, ExpiresAt: exp}, nil
}

func newJTI() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("mint: jti: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
