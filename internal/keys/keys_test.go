package keys_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/keys"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testdata/keys.json holds three private keys: es-1 (ES256), ed-1 (EdDSA) and
// rs-1 (RS256, 2048 bits), so that tests do not spend time generating RSA keys.
const keysFile = "testdata/keys.json"

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseTestdata(t testing.TB) *keys.Set {
	t.Helper()
	s, err := keys.Parse(readFile(t, keysFile), keysFile)
	if err != nil {
		t.Fatalf("Parse(%s): %v", keysFile, err)
	}
	return s
}

// sign makes a JWT with k the way the minter does: the key's own encoded header,
// a claims segment, and k.Sign over both.
func sign(t testing.TB, k *keys.SigningKey, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := k.EncodedHeader() + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig, err := k.Sign(input)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// verify checks token against a published JWKS document the way a downstream
// API does: keyfunc over the JWKS, golang-jwt with an algorithm allowlist.
func verify(t *testing.T, jwks []byte, token, alg string) *jwt.Token {
	t.Helper()
	kf, err := keyfunc.NewJWKSetJSON(jwks)
	if err != nil {
		t.Fatalf("keyfunc over the published JWKS: %v", err)
	}
	tok, err := jwt.Parse(token, kf.Keyfunc, jwt.WithValidMethods([]string{alg}), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("the token does not verify with the published JWKS: %v", err)
	}
	return tok
}

func claims() map[string]any {
	return map[string]any{"sub": "alice", "iss": "https://sts.example.com", "exp": time.Now().Add(time.Minute).Unix()}
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		name    string
		alg     string
		wantAlg string
		wantErr bool
	}{
		{name: "ES256", alg: keys.ES256, wantAlg: "ES256"},
		{name: "EdDSA", alg: keys.EdDSA, wantAlg: "EdDSA"},
		{name: "RS256", alg: keys.RS256, wantAlg: "RS256"},
		{name: "PS256", alg: keys.PS256, wantAlg: "PS256"},
		{name: "default is ES256", alg: "", wantAlg: "ES256"},
		{name: "HS256 refused", alg: "HS256", wantErr: true},
		{name: "ES384 refused", alg: "ES384", wantErr: true},
		{name: "none refused", alg: "none", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := keys.Generate(tc.alg)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Generate(%q) gave a set", tc.alg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			k := s.Active()
			if k == nil || len(s.Keys()) != 1 || s.Keys()[0] != k {
				t.Fatalf("want one active key, got %d keys", len(s.Keys()))
			}
			if k.Alg != tc.wantAlg {
				t.Errorf("Alg = %q, want %q", k.Alg, tc.wantAlg)
			}
			// Generated keys are named by their RFC 7638 thumbprint.
			if tp, err := keys.Thumbprint(k.Public()); err != nil || k.KID != tp {
				t.Errorf("KID = %q, want the thumbprint %q (%v)", k.KID, tp, err)
			}
			tok := verify(t, s.JWKS(), sign(t, k, claims()), tc.wantAlg)
			if tok.Header["kid"] != k.KID || tok.Header["typ"] != "at+jwt" || tok.Header["alg"] != tc.wantAlg {
				t.Errorf("header = %v", tok.Header)
			}
		})
	}
}

func TestGenerateIsEphemeral(t *testing.T) {
	a, err := keys.Generate(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	b, err := keys.Generate(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	if a.Active().KID == b.Active().KID || a.ETag() == b.ETag() {
		t.Error("two generated sets share a key")
	}
	// A token of one set does not verify with the other's keys.
	kf, err := keyfunc.NewJWKSetJSON(b.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.Parse(sign(t, a.Active(), claims()), kf.Keyfunc, jwt.WithValidMethods([]string{"ES256"})); err == nil {
		t.Error("a token of set a verified with the JWKS of set b")
	}
}

func TestParse(t *testing.T) {
	s := parseTestdata(t)
	var kids, algs []string
	for _, k := range s.Keys() {
		kids = append(kids, k.KID)
		algs = append(algs, k.Alg)
	}
	if want := []string{"es-1", "ed-1", "rs-1"}; !slices.Equal(kids, want) {
		t.Errorf("kids = %q, want %q (file order)", kids, want)
	}
	if want := []string{"ES256", "EdDSA", "RS256"}; !slices.Equal(algs, want) {
		t.Errorf("algs = %q, want %q", algs, want)
	}
	if s.Active().KID != "es-1" {
		t.Errorf("active = %q, want the first key es-1", s.Active().KID)
	}
	for _, k := range s.Keys() {
		t.Run(k.KID, func(t *testing.T) {
			tok := verify(t, s.JWKS(), sign(t, k, claims()), k.Alg)
			if tok.Header["kid"] != k.KID {
				t.Errorf("kid = %v", tok.Header["kid"])
			}
		})
	}
}

// withMember is the test key set with member of key i set to v.
func withMember(i int, member string, v any) func(*testing.T) []byte {
	return func(t *testing.T) []byte {
		ks := keyList(t)
		ks[i][member] = v
		return jwksDoc(t, ks...)
	}
}

// keyList is testdata/keys.json as generic JSON, for tests that break one key.
func keyList(t *testing.T) []map[string]any {
	t.Helper()
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(readFile(t, keysFile), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Keys
}

func privateJWK(t *testing.T, key any, kid, alg string) map[string]any {
	t.Helper()
	j, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{
		Marshal:  jwkset.JWKMarshalOptions{Private: true},
		Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.ALG(alg)},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(j.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func jwksDoc(t *testing.T, ks ...map[string]any) []byte {
	t.Helper()
	if ks == nil {
		ks = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"keys": ks})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRefusals(t *testing.T) {
	tests := []struct {
		name  string
		doc   func(t *testing.T) []byte
		paths []string // every one must be reported
	}{
		{name: "public key only", paths: []string{"keys[0].d"}, doc: func(t *testing.T) []byte {
			ks := keyList(t)
			delete(ks[0], "d")
			return jwksDoc(t, ks...)
		}},
		{name: "RSA public key only", paths: []string{"keys[2].d"}, doc: func(t *testing.T) []byte {
			ks := keyList(t)
			for _, m := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				delete(ks[2], m)
			}
			return jwksDoc(t, ks...)
		}},
		{name: "missing kid", paths: []string{"keys[1].kid"}, doc: func(t *testing.T) []byte {
			ks := keyList(t)
			delete(ks[1], "kid")
			return jwksDoc(t, ks...)
		}},
		{name: "duplicate kid", paths: []string{"keys[2].kid"}, doc: withMember(2, "kid", "es-1")},
		{name: "P-384 key", paths: []string{"keys[0].crv"}, doc: func(t *testing.T) []byte {
			k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return jwksDoc(t, privateJWK(t, k, "p384", ""))
		}},
		{name: "P-384 key named ES384", paths: []string{"keys[0].crv"}, doc: func(t *testing.T) []byte {
			k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return jwksDoc(t, privateJWK(t, k, "p384", "ES384"))
		}},
		{name: "RSA 1024", paths: []string{"keys[0].n"}, doc: func(t *testing.T) []byte {
			k, err := rsa.GenerateKey(rand.Reader, 1024)
			if err != nil {
				t.Fatal(err)
			}
			return jwksDoc(t, privateJWK(t, k, "rsa1024", "RS256"))
		}},
		{name: "alg RS256 on an EC key", paths: []string{"keys[0].alg"}, doc: withMember(0, "alg", "RS256")},
		{name: "alg ES256 on an RSA key", paths: []string{"keys[2].alg"}, doc: withMember(2, "alg", "ES256")},
		{name: "alg PS256 on an EC key", paths: []string{"keys[0].alg"}, doc: withMember(0, "alg", "PS256")},
		{name: "alg none", paths: []string{"keys[1].alg"}, doc: withMember(1, "alg", "none")},
		{name: "use enc", paths: []string{"keys[0].use"}, doc: withMember(0, "use", "enc")},
		{name: "oct key", paths: []string{"keys[0].kty"}, doc: func(t *testing.T) []byte {
			return jwksDoc(t, map[string]any{"kty": "oct", "kid": "hmac", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"})
		}},
		{name: "unknown kty", paths: []string{"keys[0].kty"}, doc: func(t *testing.T) []byte {
			return jwksDoc(t, map[string]any{"kty": "XYZ", "kid": "x", "d": "AAAA"})
		}},
		{name: "EC point not on the curve", paths: []string{"keys[0]"}, doc: func(t *testing.T) []byte {
			ks := keyList(t)
			ks[0]["x"] = ks[0]["y"]
			return jwksDoc(t, ks...)
		}},
		// The public members of another key: tokex would sign tokens that its own
		// published JWKS cannot verify.
		{name: "EC x and y of another key", paths: []string{"keys[0]"}, doc: func(t *testing.T) []byte {
			other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			o, ks := privateJWK(t, other, "other", "ES256"), keyList(t)
			ks[0]["x"], ks[0]["y"] = o["x"], o["y"]
			return jwksDoc(t, ks...)
		}},
		{name: "RSA d of another key", paths: []string{"keys[2]"}, doc: func(t *testing.T) []byte {
			ks := keyList(t)
			ks[2]["d"] = ks[2]["dp"]
			return jwksDoc(t, ks...)
		}},
		// RFC 7518 §6.3.2 allows d without the CRT members; say what is missing
		// rather than that RSA keys cannot sign.
		{name: "RSA private key without p, q, dp, dq, qi", paths: []string{"keys[2]"}, doc: func(t *testing.T) []byte {
			ks := keyList(t)
			for _, m := range []string{"p", "q", "dp", "dq", "qi"} {
				delete(ks[2], m)
			}
			return jwksDoc(t, ks...)
		}},
		{name: "a key that is not an object", paths: []string{"keys[1]"}, doc: func(t *testing.T) []byte {
			return []byte(`{"keys":[` + string(mustJSON(t, keyList(t)[0])) + `, 42]}`)
		}},
		{name: "empty keys", paths: []string{"keys"}, doc: func(t *testing.T) []byte { return jwksDoc(t) }},
		{name: "no keys member", paths: []string{"keys"}, doc: func(t *testing.T) []byte { return []byte(`{}`) }},
		{name: "not JSON", paths: []string{""}, doc: func(t *testing.T) []byte { return []byte("kty: EC\n") }},
		{name: "a JSON array", paths: []string{""}, doc: func(t *testing.T) []byte { return []byte(`[{"kty":"EC"}]`) }},
		{name: "keys is an object", paths: []string{""}, doc: func(t *testing.T) []byte { return []byte(`{"keys":{}}`) }},
		{name: "every bad key at once", paths: []string{"keys[0].use", "keys[1].kid", "keys[2].alg", "keys[3]"}, doc: func(t *testing.T) []byte {
			ks := keyList(t)
			ks[0]["use"] = "enc"
			delete(ks[1], "kid")
			ks[2]["alg"] = "ES256"
			return jwksDoc(t, append(ks, map[string]any{"kty": "EC", "kid": "bad", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"})...)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := keys.Parse(tc.doc(t), "keys.json")
			if err == nil {
				t.Fatalf("Parse accepted the set (%d keys)", len(s.Keys()))
			}
			wantProblems(t, err, "keys.json", tc.paths...)
			// Key material never reaches the message.
			for _, k := range keyList(t) {
				if d, _ := k["d"].(string); strings.Contains(err.Error(), d) {
					t.Errorf("the error echoes private key material: %v", err)
				}
			}
		})
	}
}

// wantProblems asserts err is a *config.FileError naming file with a problem
// at every one of paths.
func wantProblems(t *testing.T, err error, file string, paths ...string) {
	t.Helper()
	var fe *config.FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error %T is not a *config.FileError: %v", err, err)
	}
	if fe.File != file {
		t.Errorf("File = %q, want %q", fe.File, file)
	}
	var got []string
	for _, p := range fe.Problems {
		got = append(got, p.Path)
	}
	for _, want := range paths {
		if !slices.Contains(got, want) {
			t.Errorf("no problem at %q; problems at %q:\n%v", want, got, err)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, append(readFile(t, keysFile), bytes.Repeat([]byte(" "), 1<<20)...), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		wantErr bool
		wantFE  bool
	}{
		{name: "good", path: keysFile},
		{name: "missing", path: filepath.Join(dir, "nope.json"), wantErr: true},
		{name: "too large", path: big, wantErr: true, wantFE: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := keys.LoadFile(tc.path)
			if !tc.wantErr {
				if err != nil || len(s.Keys()) != 3 {
					t.Fatalf("LoadFile: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			var fe *config.FileError
			if errors.As(err, &fe) != tc.wantFE {
				t.Fatalf("FileError = %v, want %v: %v", fe != nil, tc.wantFE, err)
			}
			if fe != nil && fe.File != tc.path {
				t.Errorf("File = %q, want %q", fe.File, tc.path)
			}
		})
	}
}

// privateMembers are the JWK members that hold private or symmetric key material
// (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// sampleSets are the key sets to check a property on: the test data and a
// generated set per algorithm, each made by its test.
func sampleSets() map[string]func(t *testing.T) *keys.Set {
	sets := map[string]func(t *testing.T) *keys.Set{
		"testdata": func(t *testing.T) *keys.Set { return parseTestdata(t) },
	}
	for _, alg := range []string{keys.ES256, keys.EdDSA, keys.RS256} {
		sets["generated "+alg] = func(t *testing.T) *keys.Set {
			s, err := keys.Generate(alg)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	return sets
}

func TestJWKSIsPublic(t *testing.T) {
	for name, mk := range sampleSets() {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			var doc struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(s.JWKS(), &doc); err != nil {
				t.Fatalf("JWKS is not JSON: %v", err)
			}
			if len(doc.Keys) != len(s.Keys()) {
				t.Fatalf("JWKS has %d keys, the set %d", len(doc.Keys), len(s.Keys()))
			}
			for i, k := range doc.Keys {
				for _, m := range privateMembers {
					if _, ok := k[m]; ok {
						t.Errorf("keys[%d] publishes private member %q", i, m)
					}
				}
				if k["kid"] != s.Keys()[i].KID || k["alg"] != s.Keys()[i].Alg || k["use"] != "sig" {
					t.Errorf("keys[%d] kid, alg, use = %v, %v, %v; want %q, %q, sig", i, k["kid"], k["alg"], k["use"], s.Keys()[i].KID, s.Keys()[i].Alg)
				}
			}
			// And a public JWKS is exactly what a verifier can use.
			set := jwkset.JWKSMarshal{}
			if err := json.Unmarshal(s.JWKS(), &set); err != nil {
				t.Fatal(err)
			}
			if _, err := set.JWKSlice(); err != nil {
				t.Errorf("JWKS does not parse as a JWK Set: %v", err)
			}
		})
	}
}

// TestJWKSGolden pins the published document of testdata/keys.json
// (go test ./internal/keys -run TestJWKSGolden -update to refresh).
func TestJWKSGolden(t *testing.T) {
	const golden = "testdata/jwks.golden.json"
	got := parseTestdata(t).JWKS()
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := readFile(t, golden); !bytes.Equal(got, want) {
		t.Errorf("JWKS differs from %s (-update to refresh):\ngot  %s\nwant %s", golden, got, want)
	}
}

func TestETag(t *testing.T) {
	ks := keyList(t)
	parse := func(t *testing.T, doc []byte) *keys.Set {
		t.Helper()
		s, err := keys.Parse(doc, "")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := parse(t, jwksDoc(t, ks...))
	tests := []struct {
		name string
		doc  func(t *testing.T) []byte
		same bool
	}{
		{name: "same set", same: true, doc: func(t *testing.T) []byte { return jwksDoc(t, ks...) }},
		{name: "same set, other formatting", same: true, doc: func(t *testing.T) []byte { return readFile(t, keysFile) }},
		{name: "one key fewer", doc: func(t *testing.T) []byte { return jwksDoc(t, ks[:2]...) }},
		{name: "other order", doc: func(t *testing.T) []byte { return jwksDoc(t, ks[2], ks[0], ks[1]) }},
		{name: "other kid", doc: func(t *testing.T) []byte {
			c := keyList(t)
			c[1]["kid"] = "ed-2"
			return jwksDoc(t, c...)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := parse(t, tc.doc(t))
			if got := s.ETag() == base.ETag(); got != tc.same {
				t.Errorf("ETag %s vs %s: equal = %v, want %v", s.ETag(), base.ETag(), got, tc.same)
			}
			if bytes.Equal(s.JWKS(), base.JWKS()) != tc.same {
				t.Errorf("JWKS equal = %v, want %v", !tc.same, tc.same)
			}
		})
	}
	// RFC 9110 §8.8.3: a strong entity tag is a quoted string.
	if e := base.ETag(); len(e) < 3 || e[0] != '"' || e[len(e)-1] != '"' || strings.HasPrefix(e, "W/") {
		t.Errorf("ETag %s is not a strong entity tag", e)
	}
}

func b64int(t *testing.T, s string) *big.Int {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return new(big.Int).SetBytes(b)
}

func TestThumbprint(t *testing.T) {
	// RFC 7638 §3.1: the RSA key of RFC 7517 Appendix A.1 and its thumbprint.
	const n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	rfc := &rsa.PublicKey{N: b64int(t, n), E: 65537}

	// EC and Ed25519: the thumbprint over the canonical JSON of RFC 7638 §3.2,
	// computed here independently of keys.Thumbprint.
	canonical := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return base64.RawURLEncoding.EncodeToString(sum[:])
	}
	ks := keyList(t)
	ecPub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: b64int(t, ks[0]["x"].(string)), Y: b64int(t, ks[0]["y"].(string))}
	edX, err := base64.RawURLEncoding.DecodeString(ks[1]["x"].(string))
	if err != nil {
		t.Fatal(err)
	}
	// An EC coordinate with a leading zero byte must keep its full 32 bytes (RFC 7518 §6.2.1.2).
	var smallX *ecdsa.PublicKey
	for {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if k.X.BitLen() <= 248 {
			smallX = &k.PublicKey
			break
		}
	}
	pad := func(b *big.Int) string {
		return base64.RawURLEncoding.EncodeToString(b.FillBytes(make([]byte, 32)))
	}

	tests := []struct {
		name    string
		pub     any
		want    string
		wantErr bool
	}{
		{name: "RFC 7638 example", pub: rfc, want: "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"},
		{name: "EC P-256", pub: ecPub,
			want: canonical(`{"crv":"P-256","kty":"EC","x":"` + ks[0]["x"].(string) + `","y":"` + ks[0]["y"].(string) + `"}`)},
		{name: "EC coordinate with leading zeros", pub: smallX,
			want: canonical(`{"crv":"P-256","kty":"EC","x":"` + pad(smallX.X) + `","y":"` + pad(smallX.Y) + `"}`)},
		{name: "Ed25519", pub: ed25519.PublicKey(edX),
			want: canonical(`{"crv":"Ed25519","kty":"OKP","x":"` + ks[1]["x"].(string) + `"}`)},
		{name: "unsupported key type", pub: []byte("secret"), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keys.Thumbprint(tc.pub)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Thumbprint = %q, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Thumbprint = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMarshalPrivateRoundTrip(t *testing.T) {
	for name, mk := range sampleSets() {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			doc, err := s.MarshalPrivate()
			if err != nil {
				t.Fatalf("MarshalPrivate: %v", err)
			}
			back, err := keys.Parse(doc, "")
			if err != nil {
				t.Fatalf("Parse(MarshalPrivate()): %v\n%s", err, doc)
			}
			if !bytes.Equal(back.JWKS(), s.JWKS()) || back.ETag() != s.ETag() {
				t.Errorf("the round trip changed the public set:\n%s\n%s", s.JWKS(), back.JWKS())
			}
			if back.Active().KID != s.Active().KID {
				t.Errorf("active key %q, want %q", back.Active().KID, s.Active().KID)
			}
			// The re-read private keys sign tokens the original JWKS verifies.
			for _, k := range back.Keys() {
				verify(t, s.JWKS(), sign(t, k, claims()), k.Alg)
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	for _, alg := range keys.Algorithms {
		b.Run(alg, func(b *testing.B) {
			s, err := keys.Generate(alg)
			if err != nil {
				b.Fatal(err)
			}
			k := s.Active()
			payload, _ := json.Marshal(map[string]any{
				"iss": "https://sts.example.com", "sub": "alice", "aud": "https://inventory.example.com",
				"exp": 1900000000, "iat": 1899999700, "nbf": 1899999700, "jti": "0123456789abcdef0123456789abcdef",
				"client_id": "orders", "scope": "inventory.read inventory.write",
			})
			input := k.EncodedHeader() + "." + base64.RawURLEncoding.EncodeToString(payload)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Sign(input); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
