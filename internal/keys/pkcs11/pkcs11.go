//go:build pkcs11

package pkcs11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/big"
	"runtime"
	"strings"
	"sync"

	p11 "github.com/miekg/pkcs11"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// DefaultPINEnv is the environment variable holding the user PIN.
const DefaultPINEnv = "TOKEX_PKCS11_PIN"

// Config names a key on a token: the keys file's tokex.pkcs11 member.
type Config struct {
	Module     string `json:"module"`            // path of the PKCS#11 library
	TokenLabel string `json:"token_label"`       // CKA_LABEL of the token
	KeyLabel   string `json:"key_label"`         // CKA_LABEL of the private key
	PINEnv     string `json:"pin_env,omitempty"` // default TOKEX_PKCS11_PIN
}

// Signer is a crypto.Signer over one private key on a token.
type Signer struct {
	pub *ecdsa.PublicKey
	s   *session
}

type session struct {
	mu  sync.Mutex
	ctx *p11.Ctx
	h   p11.SessionHandle
	key p11.ObjectHandle
}

// Open finds the key of c and checks it is the private half of pub.
// lookupEnv reads the PIN (os.LookupEnv in production).
func Open(c Config, pub crypto.PublicKey, lookupEnv func(string) (string, bool)) (*Signer, error) {
	ecPub, ok := pub.(*ecdsa.PublicKey)
	if !ok || ecPub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("only EC P-256 (ES256) keys are supported through PKCS#11, not %T", pub)
	}
	if c.Module == "" || c.TokenLabel == "" || c.KeyLabel == "" {
		return nil, errors.New("module, token_label and key_label are required")
	}
	if c.PINEnv == "" {
		c.PINEnv = DefaultPINEnv
	}
	pin, ok := lookupEnv(c.PINEnv)
	if !ok || pin == "" {
		return nil, fmt.Errorf("the token PIN is not set: put it in the environment variable %s", c.PINEnv)
	}
	ctx := p11.New(c.Module)
	if ctx == nil {
		return nil, fmt.Errorf("cannot load the PKCS#11 module %s", c.Module)
	}
	s, err := openSession(ctx, c, pin)
	if err != nil {
		ctx.Destroy()
		return nil, err
	}
	signer := &Signer{pub: ecPub, s: s}
	// Close the session once no key set refers to the signer any more (after a
	// reload has swapped it out and in-flight signatures are done).
	runtime.AddCleanup(signer, func(s *session) {
		_ = s.ctx.CloseSession(s.h)
		s.ctx.Destroy()
	}, s)
	if err := signer.probe(); err != nil {
		return nil, err
	}
	return signer, nil
}

func openSession(ctx *p11.Ctx, c Config, pin string) (*session, error) {
	if err := ctx.Initialize(); err != nil && !errors.Is(err, p11.Error(p11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		return nil, fmt.Errorf("initialize %s: %w", c.Module, err)
	}
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return nil, fmt.Errorf("list slots: %w", err)
	}
	slot, found := uint(0), false
	for _, sl := range slots {
		ti, err := ctx.GetTokenInfo(sl)
		if err == nil && strings.TrimRight(ti.Label, " \x00") == c.TokenLabel {
			slot, found = sl, true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("no token labelled %q in %s", c.TokenLabel, c.Module)
	}
	h, err := ctx.OpenSession(slot, p11.CKF_SERIAL_SESSION)
	if err != nil {
		return nil, fmt.Errorf("open a session on token %q: %w", c.TokenLabel, err)
	}
	if err := ctx.Login(h, p11.CKU_USER, pin); err != nil && !errors.Is(err, p11.Error(p11.CKR_USER_ALREADY_LOGGED_IN)) {
		_ = ctx.CloseSession(h)
		return nil, fmt.Errorf("log in to token %q (check %s): %w", c.TokenLabel, c.PINEnv, err)
	}
	key, err := findKey(ctx, h, c.KeyLabel)
	if err != nil {
		_ = ctx.CloseSession(h)
		return nil, fmt.Errorf("token %q: %w", c.TokenLabel, err)
	}
	return &session{ctx: ctx, h: h, key: key}, nil
}

func findKey(ctx *p11.Ctx, h p11.SessionHandle, label string) (p11.ObjectHandle, error) {
	tmpl := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_EC),
		p11.NewAttribute(p11.CKA_LABEL, label),
	}
	if err := ctx.FindObjectsInit(h, tmpl); err != nil {
		return 0, err
	}
	objs, _, err := ctx.FindObjects(h, 2)
	if ferr := ctx.FindObjectsFinal(h); err == nil {
		err = ferr
	}
	switch {
	case err != nil:
		return 0, err
	case len(objs) == 0:
		return 0, fmt.Errorf("no EC private key labelled %q", label)
	case len(objs) > 1:
		return 0, fmt.Errorf("several EC private keys are labelled %q; labels must be unique", label)
	}
	return objs[0], nil
}

// probe signs a random digest and verifies it with the public key of the file.
func (s *Signer) probe() error {
	var d [32]byte
	if _, err := rand.Read(d[:]); err != nil {
		return err
	}
	sig, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		return fmt.Errorf("probe signature: %w", err)
	}
	if !ecdsa.VerifyASN1(s.pub, d[:], sig) {
		return errors.New("the token's key is not the private half of the public key in the keys file (x, y)")
	}
	return nil
}

// Public is the public key given to Open, checked against the token's key.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Sign signs a SHA-256 digest with CKM_ECDSA and returns an ASN.1 DER
// signature, as crypto.Signer requires of ECDSA keys.
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.SHA256 || len(digest) != sha256.Size {
		return nil, fmt.Errorf("pkcs11: want a SHA-256 digest, got %d bytes for %v", len(digest), opts.HashFunc())
	}
	ss := s.s
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if err := ss.ctx.SignInit(ss.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_ECDSA, nil)}, ss.key); err != nil {
		return nil, fmt.Errorf("pkcs11: sign init: %w", err)
	}
	raw, err := ss.ctx.Sign(ss.h, digest)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: sign: %w", err)
	}
	// PKCS#11 §2.3.1: CKM_ECDSA returns r || s, each as long as the order.
	if len(raw) != 64 {
		return nil, fmt.Errorf("pkcs11: an ECDSA P-256 signature of %d bytes", len(raw))
	}
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(new(big.Int).SetBytes(raw[:32]))
		b.AddASN1BigInt(new(big.Int).SetBytes(raw[32:]))
	})
	return b.Bytes()
}
