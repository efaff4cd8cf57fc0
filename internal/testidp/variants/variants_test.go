package variants_test

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokex/tokex/internal/testidp/variants"
)

var policy = variants.Policy{
	Issuer: "https://idp.example", Audience: "https://sts.example", Subject: "alice",
	Now: time.Unix(1790000000, 0), Leeway: 30 * time.Second,
}

// TestGenerateReproducible: the same seed gives the same variants (but for
// ECDSA signatures, which are randomised), another seed others.
func TestGenerateReproducible(t *testing.T) {
	a := variants.Generate(7, 500, nil, policy)
	b := variants.Generate(7, 500, nil, policy)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("seed 7 gave two different sets of variants")
	}
	c := variants.Generate(8, 500, nil, policy)
	same := 0
	for i := variants.Pinned(); i < len(a); i++ {
		if a[i].Desc == c[i].Desc {
			same++
		}
	}
	if same > len(a)/4 {
		t.Errorf("seeds 7 and 8 agree on %d of %d variants", same, len(a)-variants.Pinned())
	}
	for seed := range uint64(10) { // no mutation panics on another's output
		variants.Generate(seed, 2000, nil, policy)
	}
	for i, v := range a[:variants.Pinned()] { // the same mutations; the key may differ
		if _, d, _ := strings.Cut(v.Desc, " "); !strings.HasSuffix(c[i].Desc, d) {
			t.Errorf("pinned variant %d differs between seeds: %q, %q", i, v.Desc, c[i].Desc)
		}
	}
}

// TestValidVariants: the unmutated tokens verify and carry the policy's
// claims; every mutated variant says what was done to it.
func TestValidVariants(t *testing.T) {
	keys, err := variants.NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	vs := variants.Generate(variants.DefaultSeed, 200, keys, policy)
	for _, v := range vs {
		if v.Valid() {
			if v.Refuse != "" {
				t.Errorf("#%d valid but Refuse %q", v.Index, v.Refuse)
			}
			continue
		}
		if v.Desc == "" || len(v.Kinds) == 0 || !strings.Contains(v.Desc, ":") {
			t.Errorf("#%d: mutated without a description: %+v", v.Index, v)
		}
	}
	for i, alg := range []string{"RS256", "ES256"} {
		v := vs[i]
		if !v.Valid() {
			t.Fatalf("variant %d is not the valid token: %s", i, v.Desc)
		}
		claims := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(v.Token, claims, func(tok *jwt.Token) (any, error) {
			if alg == "RS256" {
				return &keys.RSA.PublicKey, nil
			}
			return &keys.EC.PublicKey, nil
		}, jwt.WithValidMethods([]string{alg}), jwt.WithTimeFunc(func() time.Time { return policy.Now }),
			jwt.WithIssuer(policy.Issuer), jwt.WithAudience(policy.Audience), jwt.WithExpirationRequired())
		if err != nil {
			t.Errorf("valid %s token: %v", alg, err)
		}
		if claims["sub"] != policy.Subject {
			t.Errorf("valid %s token: sub %v", alg, claims["sub"])
		}
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	raw, err := keys.JWKS()
	if err != nil || json.Unmarshal(raw, &set) != nil || len(set.Keys) != 2 {
		t.Fatalf("JWKS %s: %v", raw, err)
	}
	for _, k := range set.Keys {
		if _, ok := k["d"]; ok {
			t.Errorf("JWKS holds a private key: %v", k["kid"])
		}
	}
}

// TestPinnedVariants: the known differentials are in every run.
func TestPinnedVariants(t *testing.T) {
	vs := variants.Generate(1, variants.Pinned(), nil, policy)
	var descs []string
	for _, v := range vs {
		descs = append(descs, v.Desc)
	}
	all := strings.Join(descs, "\n")
	for _, want := range []string{"nbf 1e19", "nbf 1e300", "nbf 9.3e18", "nbf 9223372000000000000", "iat 1e19",
		"aud [null,", `"\r\n" inserted in header`, `"\r\n" inserted in claims`, `"\r\n" inserted in signature`,
		`act {"sub":5}`, `may_act {"sub":"gw","iss":5}`} {
		if !strings.Contains(all, want) {
			t.Errorf("no pinned variant %q in:\n%s", want, all)
		}
	}
	// The claims segment of a variant with nil keys is its Claims.
	for _, v := range vs {
		if v.Valid() {
			seg := strings.Split(v.Token, ".")[1]
			if got, _ := base64.RawURLEncoding.DecodeString(seg); string(got) != string(v.Claims) {
				t.Errorf("claims segment %q, Claims %q", got, v.Claims)
			}
		}
	}
}

func TestParams(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if s, n, err := variants.Params(env(nil)); err != nil || s != variants.DefaultSeed || n != variants.DefaultN {
		t.Errorf("defaults: %d %d %v", s, n, err)
	}
	if s, n, err := variants.Params(env(map[string]string{"TOKEX_DIFF_SEED": "0x2a", "TOKEX_DIFF_N": "100"})); err != nil || s != 42 || n != 100 {
		t.Errorf("0x2a, 100: %d %d %v", s, n, err)
	}
	for _, bad := range []map[string]string{{"TOKEX_DIFF_SEED": "x"}, {"TOKEX_DIFF_N": "-1"}, {"TOKEX_DIFF_N": "3"}} {
		if _, _, err := variants.Params(env(bad)); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
