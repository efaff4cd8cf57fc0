package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/client"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/testidp"
)

const issuer = "https://sts.example.com"

type signer struct {
	key *ecdsa.PrivateKey
	kid string
}

func newSigner(t *testing.T, kid string) signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{key: k, kid: kid}
}

// jwks is the public JWK Set of s, as decoded YAML would hold it.
func (s signer) jwks(t *testing.T) any {
	t.Helper()
	jwk, err := jwkset.NewJWKFromKey(s.key.Public(), jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.AlgES256, KID: s.kid, USE: jwkset.UseSig},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	var v any
	_ = json.Unmarshal(b, &v)
	return v
}

func (s signer) sign(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = s.kid
	raw, err := tok.SignedString(s.key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// signRaw signs payload as it is (JSON that jwt.MapClaims cannot write:
// duplicate or odd members), with kid.
func (s signer) signRaw(t *testing.T, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(`{"alg":"ES256","kid":"`+s.kid+`","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodES256.Sign(input, s.key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + enc.EncodeToString(sig)
}

// rawAssertion is claims as JSON followed by extra, verbatim.
func rawAssertion(claims jwt.MapClaims, extra string) string {
	b, _ := json.Marshal(claims)
	return string(b[:len(b)-1]) + "," + extra + "}"
}

func assertionClaims(id string, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{"iss": id, "sub": id, "aud": issuer + "/token", "exp": now.Add(time.Minute).Unix(),
		"iat": now.Unix(), "jti": rand.Text()}
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func jwtBearer(assertion string) client.Credentials {
	return client.Credentials{Assertion: assertion, AssertionType: api.ClientAssertionTypeJWTBearer}
}

func unsigned(claims jwt.MapClaims) string {
	raw, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	return raw
}

func hmacSigned(claims jwt.MapClaims) string {
	raw, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("a shared secret of 32 bytes!!!!!"))
	return raw
}

func TestPrivateKeyJWT(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	alice, bob, foreign := newSigner(t, "alice-1"), newSigner(t, "bob-1"), newSigner(t, "alice-1")
	r := client.NewRegistry([]config.Client{
		{ID: "alice", Auth: config.AuthPrivateKeyJWT, JWKS: alice.jwks(t)},
		{ID: "bob", Auth: config.AuthPrivateKeyJWT, JWKS: bob.jwks(t)},
		{ID: "secret", SecretSHA256: digest(plainSecret)},
	}, client.Options{Issuer: issuer, Now: func() time.Time { return now }})
	defer r.Close()
	ctx := context.Background()
	base := assertionClaims("alice", now)
	replayed := alice.sign(t, base)
	if _, err := r.Authenticate(ctx, jwtBearer(replayed)); err != nil {
		t.Fatalf("first use of an assertion: %v", err)
	}

	checkAll(t, r, api.AuthMethodPrivateKeyJWT, []authCase{
		{name: "valid, aud = token endpoint", creds: jwtBearer(alice.sign(t, with(base, "jti", rand.Text()))), wantID: "alice"},
		{name: "valid, aud = issuer", creds: jwtBearer(alice.sign(t, with(base, "jti", rand.Text(), "aud", issuer))), wantID: "alice"},
		{name: "valid, aud list", creds: jwtBearer(alice.sign(t, with(base, "jti", rand.Text(), "aud", []string{"x", issuer}))), wantID: "alice"},
		{name: "valid, with matching client_id", wantID: "alice",
			creds: client.Credentials{PostID: "alice", Assertion: alice.sign(t, with(base, "jti", rand.Text())), AssertionType: api.ClientAssertionTypeJWTBearer}},

		{name: "replayed", creds: jwtBearer(replayed), wantKind: client.Failed, reason: "assertion_replayed"},
		{name: "expired", creds: jwtBearer(alice.sign(t, with(base, "jti", rand.Text(), "exp", now.Add(-time.Minute).Unix()))), wantKind: client.Failed, reason: "assertion_expired"},
		{name: "exp too far ahead", creds: jwtBearer(alice.sign(t, with(base, "jti", rand.Text(), "exp", now.Add(time.Hour).Unix()))), wantKind: client.Failed, reason: "assertion_lifetime"},
		{name: "no exp", creds: jwtBearer(alice.sign(t, with(base, "jti", rand.Text(), "exp", nil))), wantKind: client.Failed, reason: "assertion_claims"},
		{name: "no jti", creds: jwtBearer(alice.sign(t, with(base, "jti", nil))), wantKind: client.Failed, reason: "assertion_claims"},
		{name: "wrong audience", creds: jwtBearer(alice.sign(t, with(base, "jti", rand.Text(), "aud", "https://other.example.com"))), wantKind: client.Failed, reason: "assertion_audience"},
		{name: "iss differs from sub", creds: jwtBearer(alice.sign(t, with(base, "jti", rand.Text(), "iss", "bob"))), wantKind: client.Failed, reason: "assertion_claims"},
		{name: "client_id differs from sub", wantKind: client.Failed, reason: "assertion_claims",
			creds: client.Credentials{PostID: "bob", Assertion: alice.sign(t, with(base, "jti", rand.Text())), AssertionType: api.ClientAssertionTypeJWTBearer}},
		{name: "alg none", creds: jwtBearer(unsigned(with(base, "jti", rand.Text()))), wantKind: client.Failed, reason: "assertion_algorithm"},
		{name: "HMAC", creds: jwtBearer(hmacSigned(with(base, "jti", rand.Text()))), wantKind: client.Failed, reason: "assertion_algorithm"},
		{name: "foreign key with the client's kid", creds: jwtBearer(foreign.sign(t, with(base, "jti", rand.Text()))), wantKind: client.Failed, reason: "assertion_signature"},
		{name: "another client's key", creds: jwtBearer(bob.sign(t, with(base, "jti", rand.Text()))), wantKind: client.Failed, reason: "assertion_unknown_key"},
		{name: "unknown client", creds: jwtBearer(alice.sign(t, assertionClaims("mallory", now))), wantKind: client.Failed, reason: "unknown_client"},
		{name: "client configured for secrets", creds: jwtBearer(alice.sign(t, assertionClaims("secret", now))), wantKind: client.Failed, reason: "auth_method_not_allowed"},
		{name: "wrong assertion type", wantKind: client.Failed, reason: "assertion_type",
			creds: client.Credentials{Assertion: alice.sign(t, with(base, "jti", rand.Text())), AssertionType: "urn:x"}},
		{name: "assertion type without assertion", creds: client.Credentials{AssertionType: api.ClientAssertionTypeJWTBearer}, wantKind: client.Failed, reason: "assertion_missing"},
		{name: "not a JWT", creds: jwtBearer("not.a.jwt"), wantKind: client.Failed, reason: "assertion_malformed"},
		// Issue 12 finding 7: assertions are read as strictly as subject tokens.
		{name: "JTI is not jti (claim names are case-sensitive)", creds: jwtBearer(alice.signRaw(t, rawAssertion(with(base, "jti", nil), `"JTI":"x1"`))), wantKind: client.Failed, reason: "assertion_claims"},
		{name: "duplicate jti", creds: jwtBearer(alice.signRaw(t, rawAssertion(with(base, "jti", "j1"), `"jti":"j2"`))), wantKind: client.Failed, reason: "assertion_malformed"},
		{name: "duplicate iss (last would win)", creds: jwtBearer(alice.signRaw(t, rawAssertion(with(base, "jti", rand.Text()), `"iss":"bob"`))), wantKind: client.Failed, reason: "assertion_malformed"},
		{name: "aud [null, issuer]", creds: jwtBearer(alice.signRaw(t, rawAssertion(with(base, "jti", rand.Text(), "aud", nil), `"aud":[null,"`+issuer+`"]`))), wantKind: client.Failed, reason: "assertion_malformed"},
		{name: "nbf 1e19 is the far future", creds: jwtBearer(alice.signRaw(t, rawAssertion(with(base, "jti", rand.Text()), `"nbf":1e19`))), wantKind: client.Failed, reason: "assertion_not_yet_valid"},
		{name: "iat 9223372000000000000 is the far future", creds: jwtBearer(alice.signRaw(t, rawAssertion(with(base, "jti", rand.Text(), "iat", nil), `"iat":9223372000000000000`))), wantKind: client.Failed, reason: "assertion_not_yet_valid"},
		{name: "exp 1e300 is the far future, beyond the assertion window", creds: jwtBearer(alice.signRaw(t, rawAssertion(with(base, "jti", rand.Text(), "exp", nil), `"exp":1e300`))), wantKind: client.Failed, reason: "assertion_lifetime"},
		{name: "raw-signed control case is accepted", creds: jwtBearer(alice.signRaw(t, rawAssertion(with(base, "jti", nil), `"jti":"`+rand.Text()+`"`))), wantID: "alice"},
		{name: "CRLF after the signature", creds: jwtBearer(alice.sign(t, with(base, "jti", rand.Text())) + "\r\n"), wantKind: client.Failed, reason: "assertion_malformed"},
		{name: "assertion and secret at once", wantKind: client.Multiple,
			creds: client.Credentials{PostID: "alice", PostSecret: plainSecret, Assertion: alice.sign(t, with(base, "jti", rand.Text())), AssertionType: api.ClientAssertionTypeJWTBearer}},
		{name: "assertion and Basic at once", wantKind: client.Multiple,
			creds: client.Credentials{Basic: true, BasicUser: "secret", BasicSecret: plainSecret, Assertion: alice.sign(t, with(base, "jti", rand.Text())), AssertionType: api.ClientAssertionTypeJWTBearer}},
		{name: "secret for a private_key_jwt client", creds: client.Credentials{PostID: "alice", PostSecret: plainSecret}, wantKind: client.Failed, reason: "auth_method_not_allowed"},
		{name: "client_id alone for a private_key_jwt client", creds: client.Credentials{PostID: "alice"}, wantKind: client.Failed, reason: "auth_method_not_allowed"},
	})
}

// authCase is one authentication attempt and its expected outcome: the
// client id on success, else the kind and reason of the error.
type authCase struct {
	name     string
	creds    client.Credentials
	wantID   string
	wantKind client.Kind
	reason   string
}

// checkAll runs each case as a subtest; a success must use method.
func checkAll(t *testing.T, r *client.Registry, method string, cases []authCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			check(t, r, tc.creds, tc.wantID, method, tc.wantKind, tc.reason)
		})
	}
}

func check(t *testing.T, r *client.Registry, creds client.Credentials, wantID, wantMethod string, wantKind client.Kind, reason string) {
	t.Helper()
	cl, err := r.Authenticate(context.Background(), creds)
	if wantKind == 0 {
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		if cl.ID != wantID || cl.Method != wantMethod {
			t.Fatalf("client = %+v, want %s by %s", cl, wantID, wantMethod)
		}
		return
	}
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Authenticate = %+v, %v; want a *client.Error", cl, err)
	}
	if ce.Kind != wantKind || (reason != "" && ce.Reason != reason) {
		t.Fatalf("kind %v reason %q (%s), want kind %v reason %q", ce.Kind, ce.Reason, ce.Description, wantKind, reason)
	}
	if creds.Assertion != "" && len(creds.Assertion) > 20 && strings.Contains(ce.Description, creds.Assertion[len(creds.Assertion)-20:]) {
		t.Errorf("the description echoes the assertion")
	}
}

// TestPrivateKeyJWTFromJWKSURI: keys come from the client's jwks_uri, each
// client with its own fetcher.
func TestPrivateKeyJWTFromJWKSURI(t *testing.T) {
	now := time.Now()
	alice, bob := newSigner(t, "alice-1"), newSigner(t, "bob-1")
	var mu sync.Mutex
	served := map[string]any{"/alice": alice.jwks(t), "/bob": bob.jwks(t)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_ = json.NewEncoder(w).Encode(served[r.URL.Path])
	}))
	defer srv.Close()
	r := client.NewRegistry([]config.Client{
		{ID: "alice", Auth: config.AuthPrivateKeyJWT, JWKSURI: srv.URL + "/alice"},
		{ID: "bob", Auth: config.AuthPrivateKeyJWT, JWKSURI: srv.URL + "/bob"},
	}, client.Options{Issuer: issuer})
	defer r.Close()
	check(t, r, jwtBearer(alice.sign(t, assertionClaims("alice", now))), "alice", api.AuthMethodPrivateKeyJWT, 0, "")
	check(t, r, jwtBearer(bob.sign(t, assertionClaims("bob", now))), "bob", api.AuthMethodPrivateKeyJWT, 0, "")
	// bob's key never authenticates alice, though both come from one server.
	check(t, r, jwtBearer(bob.sign(t, assertionClaims("alice", now))), "", "", client.Failed, "assertion_unknown_key")
}

// selfSigned is a certificate for the TLS tests; the TLS stack, not this
// package, verifies chains.

func TestTLSClientAuth(t *testing.T) {
	r := client.NewRegistry([]config.Client{
		{ID: "by-dn", Auth: config.AuthTLSClientAuth, TLSClientAuthSubjectDN: "CN=orders,O=Example Corp,C=US"},
		{ID: "by-dns", Auth: config.AuthTLSClientAuth, TLSClientAuthSANDNS: "orders.svc.example.com"},
		{ID: "secret", SecretSHA256: digest(plainSecret)},
	}, client.Options{Issuer: issuer})
	defer r.Close()
	orders := testidp.SelfSignedCert(t, pkix.Name{CommonName: "orders", Organization: []string{"Example Corp"}, Country: []string{"US"}}, "orders.svc.example.com")
	other := testidp.SelfSignedCert(t, pkix.Name{CommonName: "billing", Organization: []string{"Example Corp"}, Country: []string{"US"}}, "billing.svc.example.com")
	checkAll(t, r, api.AuthMethodTLSClientAuth, []authCase{
		{name: "subject DN", creds: client.Credentials{PostID: "by-dn", Cert: orders, Presented: orders}, wantID: "by-dn"},
		{name: "SAN DNS, other case", creds: func() client.Credentials {
			c := testidp.SelfSignedCert(t, pkix.Name{CommonName: "x"}, "Orders.Svc.Example.com")
			return client.Credentials{PostID: "by-dns", Cert: c, Presented: c}
		}(), wantID: "by-dns"},
		{name: "a certificate no CA vouches for", creds: client.Credentials{PostID: "by-dn", Presented: orders}, wantKind: client.Failed, reason: "missing_client_certificate"},
		{name: "subject DN mismatch", creds: client.Credentials{PostID: "by-dn", Cert: other, Presented: other}, wantKind: client.Failed, reason: "certificate_mismatch"},
		{name: "SAN DNS mismatch", creds: client.Credentials{PostID: "by-dns", Cert: other, Presented: other}, wantKind: client.Failed, reason: "certificate_mismatch"},
		{name: "missing certificate", creds: client.Credentials{PostID: "by-dn"}, wantKind: client.Failed, reason: "missing_client_certificate"},
		{name: "certificate without client_id", creds: client.Credentials{Cert: orders, Presented: orders}, wantKind: client.Failed, reason: "missing_client_id"},
		{name: "certificate for a secret client", creds: client.Credentials{PostID: "secret", Cert: orders, Presented: orders}, wantKind: client.Failed},
		{name: "secret for a tls_client_auth client", creds: client.Credentials{PostID: "by-dn", PostSecret: plainSecret, Cert: orders, Presented: orders}, wantKind: client.Failed, reason: "auth_method_not_allowed"},
		{name: "Basic for a tls_client_auth client", creds: client.Credentials{Basic: true, BasicUser: "by-dn", BasicSecret: plainSecret, Cert: orders, Presented: orders}, wantKind: client.Failed, reason: "auth_method_not_allowed"},
		{name: "unknown client with a certificate", creds: client.Credentials{PostID: "nobody", Cert: orders, Presented: orders}, wantKind: client.Failed, reason: "unknown_client"},
	})
}

// TestSelfSignedTLSClientAuth: RFC 8705 §2.2, a certificate registered in
// the client's jwks (as x5c, or by its public key); no CA is involved.
func TestSelfSignedTLSClientAuth(t *testing.T) {
	pinned := testidp.SelfSignedCert(t, pkix.Name{CommonName: "orders"})
	byKey := testidp.SelfSignedCert(t, pkix.Name{CommonName: "orders-2"})
	other := testidp.SelfSignedCert(t, pkix.Name{CommonName: "orders"})
	jwks := func(entries ...map[string]any) any {
		keys := make([]any, len(entries))
		for i, e := range entries {
			keys[i] = e
		}
		return map[string]any{"keys": keys}
	}
	withX5C := testidp.JWKOf(t, pinned.PublicKey)
	withX5C["x5c"] = []any{base64.StdEncoding.EncodeToString(pinned.Raw)}
	r := client.NewRegistry([]config.Client{
		{ID: "pinned", Auth: config.AuthSelfSignedTLSClientAuth, JWKS: jwks(withX5C)},
		{ID: "by-key", Auth: config.AuthSelfSignedTLSClientAuth, JWKS: jwks(testidp.JWKOf(t, byKey.PublicKey))},
	}, client.Options{Issuer: issuer})
	defer r.Close()
	checkAll(t, r, api.AuthMethodSelfSignedTLSClientAuth, []authCase{
		{name: "the registered certificate", creds: client.Credentials{PostID: "pinned", Presented: pinned}, wantID: "pinned"},
		{name: "a certificate with the registered key", creds: client.Credentials{PostID: "by-key", Presented: byKey}, wantID: "by-key"},
		{name: "another certificate with the same subject", creds: client.Credentials{PostID: "pinned", Presented: other}, wantKind: client.Failed, reason: "certificate_mismatch"},
		{name: "another client's certificate", creds: client.Credentials{PostID: "by-key", Presented: pinned}, wantKind: client.Failed, reason: "certificate_mismatch"},
		{name: "no certificate", creds: client.Credentials{PostID: "pinned"}, wantKind: client.Failed, reason: "missing_client_certificate"},
	})
}

// TestMethodRestriction: a client configured for one secret method cannot use
// the other.
func TestMethodRestriction(t *testing.T) {
	r := client.NewRegistry([]config.Client{
		{ID: "basic-only", Auth: config.AuthClientSecretBasic, SecretSHA256: digest(plainSecret)},
		{ID: "post-only", Auth: config.AuthClientSecretPost, SecretSHA256: digest(plainSecret)},
	}, client.Options{})
	defer r.Close()
	check(t, r, basic("basic-only", plainSecret), "basic-only", api.AuthMethodClientSecretBasic, 0, "")
	check(t, r, client.Credentials{PostID: "post-only", PostSecret: plainSecret}, "post-only", api.AuthMethodClientSecretPost, 0, "")
	check(t, r, client.Credentials{PostID: "basic-only", PostSecret: plainSecret}, "", "", client.Failed, "auth_method_not_allowed")
	check(t, r, basic("post-only", plainSecret), "", "", client.Failed, "auth_method_not_allowed")
	if got := r.Methods(); len(got) != 2 {
		t.Errorf("Methods = %v, want the two configured", got)
	}
	if algs := r.SigningAlgorithms(); algs != nil {
		t.Errorf("SigningAlgorithms = %v without private_key_jwt clients", algs)
	}
}
