package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"io"
	"math/big"
	"testing"
)

// opaque hides the concrete key type, as an HSM or KMS signer does: only
// Public and Sign are reachable.
type opaque struct{ s crypto.Signer }

func (o opaque) Public() crypto.PublicKey { return o.s.Public() }
func (o opaque) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.s.Sign(r, d, opts)
}

// TestSignThroughSigner: every algorithm signs through crypto.Signer alone,
// and the signature verifies with the standard library.
func TestSignThroughSigner(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const input = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9"
	sum := sha256.Sum256([]byte(input))
	tests := []struct {
		alg    string
		key    crypto.Signer
		verify func(sig []byte) bool
	}{
		{ES256, ec, func(sig []byte) bool {
			return len(sig) == 64 && ecdsa.Verify(&ec.PublicKey, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
		}},
		{EdDSA, ed, func(sig []byte) bool { return ed25519.Verify(ed.Public().(ed25519.PublicKey), []byte(input), sig) }},
		{RS256, rs, func(sig []byte) bool { return rsa.VerifyPKCS1v15(&rs.PublicKey, crypto.SHA256, sum[:], sig) == nil }},
		{PS256, rs, func(sig []byte) bool {
			return rsa.VerifyPSS(&rs.PublicKey, crypto.SHA256, sum[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.alg, func(t *testing.T) {
			k, err := newSigningKey("k", tc.alg, opaque{tc.key})
			if err != nil {
				t.Fatal(err)
			}
			sig, err := k.Sign(input)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.verify(sig) {
				t.Errorf("%s signature does not verify", tc.alg)
			}
		})
	}
	// A key of the wrong type for the algorithm is refused up front.
	if _, err := newSigningKey("k", ES256, opaque{ed}); err == nil {
		t.Error("ES256 with an Ed25519 key was accepted")
	}
	if _, err := newSigningKey("k", PS256, opaque{ec}); err == nil {
		t.Error("PS256 with an EC key was accepted")
	}
}

func TestDERToRaw(t *testing.T) {
	tests := []struct {
		name string
		der  []byte
		want []byte // nil: malformed
	}{
		// SEQUENCE { INTEGER 0x00 0x80 (leading zero for a high bit), INTEGER 0x01 }
		{name: "short integers are left-padded", der: []byte{0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01},
			want: append(append(make([]byte, 31), 0x80), append(make([]byte, 31), 0x01)...)},
		{name: "trailing bytes", der: []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00}},
		{name: "integer longer than 32 bytes", der: append([]byte{0x30, 0x26, 0x02, 0x21, 0x01}, append(make([]byte, 32), 0x02, 0x01, 0x01)...)},
		{name: "zero", der: []byte{0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01}},
		{name: "not a sequence", der: []byte{0x02, 0x01, 0x01}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := derToRaw(tc.der)
			if tc.want == nil {
				if !errors.Is(err, errBadECDSASignature) {
					t.Fatalf("derToRaw = %x, %v; want errBadECDSASignature", got, err)
				}
				return
			}
			if err != nil || string(got) != string(tc.want) {
				t.Errorf("derToRaw = %x, %v; want %x", got, err, tc.want)
			}
		})
	}
}
