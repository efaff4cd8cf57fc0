package dpop

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Nonces issues and checks DPoP nonces (RFC 9449 §8). A nonce is the time
// step and a MAC over it: base64url(step (8 bytes) || HMAC-SHA256(secret,
// "tokex-dpop-nonce" || step)[:16]). A nonce is accepted while its step is
// the current one or the one before (so it lives one to two steps), or the
// next one (a replica whose clock runs a little ahead).
type Nonces struct {
	secret []byte
	step   time.Duration
	now    func() time.Time
}

// NonceOptions build Nonces.
type NonceOptions struct {
	// Secret is shared by every replica; nil: a random one (this process only).
	Secret []byte
	// Step is how long a nonce is issued for; default DefaultNonceStep.
	Step time.Duration
	Now  func() time.Time
}

// DefaultNonceStep is the default nonce time step: a nonce is good for one to
// two steps.
const DefaultNonceStep = time.Minute

// NewNonces returns a nonce source.
func NewNonces(o NonceOptions) *Nonces {
	if len(o.Secret) == 0 {
		o.Secret = make([]byte, 32)
		_, _ = rand.Read(o.Secret)
	}
	if o.Step <= 0 {
		o.Step = DefaultNonceStep
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Nonces{secret: o.Secret, step: o.Step, now: o.Now}
}

const nonceLen = 8 + 16

func (n *Nonces) stepOf(t time.Time) int64 { return t.UnixNano() / int64(n.step) }

func (n *Nonces) mac(step int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(step))
	m := hmac.New(sha256.New, n.secret)
	m.Write([]byte("tokex-dpop-nonce"))
	m.Write(b[:])
	return append(b[:], m.Sum(nil)[:16]...)
}

// Issue returns a fresh nonce.
func (n *Nonces) Issue() string {
	return base64.RawURLEncoding.EncodeToString(n.mac(n.stepOf(n.now())))
}

// Valid reports whether s is a nonce this secret issued and is still fresh.
func (n *Nonces) Valid(s string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != nonceLen {
		return false
	}
	step := int64(binary.BigEndian.Uint64(b[:8]))
	cur := n.stepOf(n.now())
	if step < cur-1 || step > cur+1 {
		return false // stale, or from the future
	}
	return hmac.Equal(b, n.mac(step))
}
