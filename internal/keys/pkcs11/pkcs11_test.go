//go:build pkcs11

package pkcs11_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/mint"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// softHSM finds SoftHSM2 (Debian package softhsm2): its module and its tool.
// Missing, the test is skipped, unless TOKEX_REQUIRE_SOFTHSM=1 (CI) fails it.
func softHSM(t *testing.T) (module, util string) {
	t.Helper()
	util, err := exec.LookPath("softhsm2-util")
	for _, m := range []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"} {
		if _, serr := os.Stat(m); serr == nil && err == nil {
			return m, util
		}
	}
	msg := "SoftHSM2 is not installed (apt-get install softhsm2): the PKCS#11 signer is NOT tested"
	if os.Getenv("TOKEX_REQUIRE_SOFTHSM") == "1" {
		t.Fatal(msg + ", and TOKEX_REQUIRE_SOFTHSM=1 requires it")
	}
	t.Skip(msg)
	return "", ""
}

func runTool(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// TestSoftHSM: a keys file whose active key lives on a SoftHSM2 token; tokex
// loads it, mints a token with it, and the token verifies with the published
// JWKS, as a downstream API does.
func TestSoftHSM(t *testing.T) {
	module, util := softHSM(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// SoftHSM2 reads its configuration when the module is initialized.
	t.Setenv("SOFTHSM2_CONF", conf)
	const pin = "1234"
	runTool(t, util, "--init-token", "--free", "--label", "tokex", "--pin", pin, "--so-pin", "5678")

	// Import an EC P-256 key; tokex only ever sees its public half.
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pemPath := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(pemPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	runTool(t, util, "--import", pemPath, "--token", "tokex", "--label", "signing-1", "--id", "01", "--pin", pin)
	if err := os.Remove(pemPath); err != nil {
		t.Fatal(err)
	}

	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keysFile := func(t *testing.T, pub *ecdsa.PublicKey, p11 map[string]any) string {
		t.Helper()
		jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "hsm-1", ALG: jwkset.AlgES256, USE: jwkset.UseSig}})
		if err != nil {
			t.Fatal(err)
		}
		var k map[string]any
		b, _ := json.Marshal(jwk.Marshal())
		if err := json.Unmarshal(b, &k); err != nil {
			t.Fatal(err)
		}
		k["tokex"] = map[string]any{"state": "active", "pkcs11": p11}
		doc, err := json.Marshal(map[string]any{"keys": []any{k}})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "keys.json")
		if err := os.WriteFile(path, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := map[string]any{"module": module, "token_label": "tokex", "key_label": "signing-1"}

	// Wrong PIN first: PKCS#11 login state is per application and token, so
	// after any successful login (even one whose probe fails) a session is
	// logged in without the PIN being checked again.
	refusals := []struct {
		name string
		pin  string
		pub  *ecdsa.PublicKey
		p11  map[string]any
	}{
		{name: "wrong PIN", pin: "9999", pub: &priv.PublicKey, p11: good},
		{name: "no PIN", pub: &priv.PublicKey, p11: good},
		{name: "public key of another key", pin: pin, pub: &other.PublicKey, p11: good},
		{name: "unknown token", pin: pin, pub: &priv.PublicKey, p11: map[string]any{"module": module, "token_label": "nope", "key_label": "signing-1"}},
		{name: "unknown key label", pin: pin, pub: &priv.PublicKey, p11: map[string]any{"module": module, "token_label": "tokex", "key_label": "nope"}},
		{name: "module that does not exist", pin: pin, pub: &priv.PublicKey, p11: map[string]any{"module": filepath.Join(dir, "none.so"), "token_label": "tokex", "key_label": "signing-1"}},
		{name: "unknown member", pin: pin, pub: &priv.PublicKey, p11: map[string]any{"module": module, "token_label": "tokex", "key_label": "signing-1", "pin": pin}},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TOKEX_PKCS11_PIN", tc.pin)
			path := keysFile(t, tc.pub, tc.p11)
			ks, err := keys.LoadFile(path)
			if err == nil {
				t.Fatalf("LoadFile accepted it: active %s", ks.Active().KID)
			}
			var fe *config.FileError
			if !errors.As(err, &fe) || len(fe.Problems) == 0 || fe.Problems[0].Path != "keys[0].tokex.pkcs11" {
				t.Fatalf("want a problem at keys[0].tokex.pkcs11, got %v", err)
			}
		})
	}
	// After the refusals: PKCS#11 login state is per application and token,
	// so once a session is logged in, another login's PIN is not checked again.
	t.Run("mint and verify", func(t *testing.T) {
		t.Setenv("TOKEX_PKCS11_PIN", pin)
		ks, err := keys.LoadFile(keysFile(t, &priv.PublicKey, good))
		if err != nil {
			t.Fatalf("LoadFile: %v", err)
		}
		ptr := &atomic.Pointer[keys.Set]{}
		ptr.Store(ks)
		m := mint.New("https://sts.example.com", ptr, nil)
		kf, err := keyfunc.NewJWKSetJSON(ks.JWKS())
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			tok, err := m.Mint(mint.Input{Subject: "alice", ClientID: "orders", Audience: "https://inventory.example.com", Scopes: []string{"read"}, Expiry: time.Now().Add(time.Minute)})
			if err != nil {
				t.Fatalf("Mint %d: %v", i, err)
			}
			parsed, err := jwt.Parse(tok.Raw, kf.Keyfunc, jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience("https://inventory.example.com"))
			if err != nil {
				t.Fatalf("token %d signed on the HSM does not verify with the JWKS: %v", i, err)
			}
			if parsed.Header["kid"] != "hsm-1" {
				t.Errorf("kid = %v", parsed.Header["kid"])
			}
		}
		// The rewritten file keeps the HSM reference and no private key.
		doc, err := ks.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		back, err := keys.Parse(doc, "")
		if err != nil || back.ETag() != ks.ETag() {
			t.Errorf("MarshalPrivate round trip: %v\n%s", err, doc)
		}
	})

}
