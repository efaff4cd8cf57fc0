package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokex/tokex/api"
)

// TestMetadataAndJWKS: both metadata documents (RFC 8414, OIDC discovery) and
// the JWKS a downstream API caches.
func TestMetadataAndJWKS(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	x := start(t, startOpts{policy: up.policy("", "")})

	as := x.get(t, "/.well-known/oauth-authorization-server", nil)
	oidc := x.get(t, "/.well-known/openid-configuration", nil)
	for name, r := range map[string]response{"oauth-authorization-server": as, "openid-configuration": oidc} {
		if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: %d %q", name, r.Status, r.Header.Get("Content-Type"))
		}
	}
	if !bytes.Equal(as.Body, oidc.Body) {
		t.Errorf("the two metadata documents differ:\n%s\n%s", as.Body, oidc.Body)
	}
	var md api.ServerMetadata
	if err := json.Unmarshal(as.Body, &md); err != nil {
		t.Fatal(err)
	}
	if md.Issuer != x.Issuer || md.TokenEndpoint != x.Issuer+"/token" || md.JWKSURI != x.Issuer+"/.well-known/jwks.json" {
		t.Errorf("metadata = %+v", md)
	}
	if !slices.Contains(md.GrantTypesSupported, api.GrantTypeTokenExchange) {
		t.Errorf("grant_types_supported = %v", md.GrantTypesSupported)
	}
	for _, m := range []string{api.AuthMethodClientSecretBasic, api.AuthMethodClientSecretPost} {
		if !slices.Contains(md.TokenEndpointAuthMethodsSupported, m) {
			t.Errorf("token_endpoint_auth_methods_supported = %v", md.TokenEndpointAuthMethodsSupported)
		}
	}
	if v, ok := as.JSON["response_types_supported"].([]any); !ok || len(v) != 0 {
		t.Errorf("response_types_supported = %#v, want []", as.JSON["response_types_supported"])
	}

	// The advertised endpoints are where they say they are.
	r := x.post(t, request{form: exchangeForm(up.corp.Sign(up.corp.Claims("alice", x.Issuer)), "audience", audInventory)}.as(orders))
	if r.Status != http.StatusOK {
		t.Fatalf("exchange: %d %s", r.Status, r.Body)
	}
	x.verifyMinted(t, r.str("access_token"), md.Issuer, audInventory)

	jwks := x.get(t, strings.TrimPrefix(md.JWKSURI, x.URL), nil)
	if jwks.Status != http.StatusOK {
		t.Fatalf("GET jwks: %d", jwks.Status)
	}
	if cc := jwks.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
		t.Errorf("JWKS Cache-Control = %q, want max-age", cc)
	}
	etag := jwks.Header.Get("ETag")
	if etag == "" {
		t.Fatal("JWKS has no ETag")
	}
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(jwks.Body, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS = %s (%v)", jwks.Body, err)
	}
	k := set.Keys[0]
	if k["kid"] != x.KID || k["alg"] != "ES256" || k["use"] != "sig" || k["kty"] != "EC" || k["crv"] != "P-256" {
		t.Errorf("JWK = %v", k)
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
		if _, ok := k[private]; ok {
			t.Errorf("the public JWKS has private member %q", private)
		}
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		nm := x.get(t, "/.well-known/jwks.json", map[string]string{"If-None-Match": inm})
		if nm.Status != http.StatusNotModified || len(nm.Body) != 0 {
			t.Errorf("If-None-Match %s: %d, %d bytes, want 304 and no body", inm, nm.Status, len(nm.Body))
		}
	}
	if r := x.get(t, "/.well-known/jwks.json", map[string]string{"If-None-Match": `"stale"`}); r.Status != http.StatusOK {
		t.Errorf("stale If-None-Match: %d", r.Status)
	}

	for _, p := range []string{"/healthz", "/readyz"} {
		if r := x.get(t, p, nil); r.Status != http.StatusOK {
			t.Errorf("GET %s: %d", p, r.Status)
		}
	}
	if r := x.get(t, "/token", nil); r.Status != http.StatusMethodNotAllowed && r.Status != http.StatusNotFound {
		t.Errorf("GET /token: %d", r.Status)
	} else if r.JSON["error"] == nil {
		t.Errorf("GET /token answer is not an OAuth error: %s", r.Body)
	}
}

// TestIssuerWithPath: an issuer with a path serves RFC 8414 §3.1 metadata at
// /.well-known/oauth-authorization-server/<path>, and the endpoints that
// document advertises must answer.
func TestIssuerWithPath(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	x := start(t, startOpts{policy: up.policy("", ""), issuerPath: "/sts"})
	r := x.get(t, "/.well-known/oauth-authorization-server/sts", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("RFC 8414 §3.1 metadata: %d %s", r.Status, r.Body)
	}
	var md api.ServerMetadata
	if err := json.Unmarshal(r.Body, &md); err != nil || md.Issuer != x.Issuer {
		t.Fatalf("metadata issuer = %q (%v), want %q", md.Issuer, err, x.Issuer)
	}
	if r := x.get(t, "/.well-known/oauth-authorization-server/other", nil); r.Status != http.StatusNotFound {
		t.Errorf("metadata for another path: %d", r.Status)
	}
	// A minted token's iss is the issuer with its path.
	tr := x.post(t, request{form: exchangeForm(up.corp.Sign(up.corp.Claims("alice", x.Issuer)), "audience", audInventory)}.as(orders))
	if tr.Status != http.StatusOK {
		t.Fatalf("exchange: %d %s", tr.Status, tr.Body)
	}
	x.verifyMinted(t, tr.str("access_token"), x.Issuer, audInventory)

	// The advertised endpoints and the OIDC discovery URL of the issuer answer
	// under the issuer's path.
	for _, u := range []string{md.JWKSURI, x.Issuer + "/.well-known/openid-configuration"} {
		if g := x.get(t, strings.TrimPrefix(u, x.URL), nil); g.Status != http.StatusOK {
			t.Errorf("GET %s: %d", u, g.Status)
		}
	}
	if !strings.HasPrefix(md.TokenEndpoint, x.Issuer+"/") {
		t.Fatalf("token_endpoint = %q", md.TokenEndpoint)
	}
	tr = x.post(t, request{path: strings.TrimPrefix(md.TokenEndpoint, x.URL), form: exchangeForm(up.corp.Sign(up.corp.Claims("alice", x.Issuer)), "audience", audInventory)}.as(orders))
	if tr.Status != http.StatusOK {
		t.Fatalf("POST %s: %d %s", md.TokenEndpoint, tr.Status, tr.Body)
	}
	x.verifyMinted(t, tr.str("access_token"), x.Issuer, audInventory)
	wantAudit(t, x.audit(t, tr.TraceID), map[string]any{"outcome": "granted"})
}

// runTokex runs the binary to completion (for start-up refusals).
func runTokex(t *testing.T, env ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tokexBin, "serve")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TOKEX_ADDR=127.0.0.1:" + freePort(t), "TOKEX_ADMIN_ADDR=127.0.0.1:0"}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("tokex serve did not exit with a bad configuration")
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// TestBadPolicyFile: a policy with several problems refuses to start, naming
// the file and the key path of every problem at once (SPEC §2).
func TestBadPolicyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad-policy.yaml")
	policy := `issuer: https://sts.example.com/
token:
  default_lifetime: 5m
  max_lifetime: 48h
issuers:
  - name: corp
    issuer_url: http://idp.example.com
    algorithms: [RS256, HS256, none]
    token_types: [access_token, saml2]
    leeway: 10m
clients:
  - id: orders
    secret_sha256: "not-a-digest"
  - id: orders
    secret_sha256: "` + sha256hex("x") + `"
rules:
  - name: r1
    clients: [orders, ghost]
    issuers: [corp, nowhere]
    scopes: [inventory.read, "bad scope"]
    lifetime: 0s
  - name: r1
    clients: [orders]
    issuers: [corp]
    audience: https://x.example.com
    scopes: []
`
	if err := os.WriteFile(cfg, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runTokex(t, "TOKEX_CONFIG="+cfg)
	if code == 0 {
		t.Fatalf("tokex started with a bad policy file")
	}
	for _, want := range []string{
		cfg,
		"issuer",
		"token.max_lifetime",
		"issuers[0].issuer_url",
		"issuers[0].algorithms[1]",
		"issuers[0].algorithms[2]",
		"issuers[0].token_types[1]",
		"issuers[0].leeway",
		"clients[0].secret_sha256",
		"clients[1].id",
		"rules[0].clients[1]",
		"rules[0].issuers[1]",
		"rules[0].audience",
		"rules[0].scopes[1]",
		"rules[0].lifetime",
		"rules[1].name",
		"rules[1].scopes",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not name %q", want)
		}
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", stderr)
	}
}

// TestBadPolicyFileMixedProblems: problems of every kind are reported in one
// go: structural ones (unknown key), validation ones and a bad CEL condition.
func TestBadPolicyFileMixedProblems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "policy.yaml")
	policy := `issuer: https://sts.example.com
issuers:
  - name: corp
    issuer_url: https://idp.example.com
clients:
  - id: orders
    secret_sha256: "` + sha256hex("s") + `"
rules:
  - name: r1
    clients: [orders]
    issuers: [corp]
    scopes: [a]
  - name: r2
    clients: [orders]
    issuers: [corp]
    audience: https://b.example.com
    scopes: [b]
    require: 'claims.tid ==== "x"'
`
	if err := os.WriteFile(cfg, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runTokex(t, "TOKEX_CONFIG="+cfg)
	if code == 0 {
		t.Fatalf("tokex started with a bad policy file")
	}
	var missing []string
	for _, want := range []string{cfg, "rules[0].audience", "rules[1].require"} {
		if !strings.Contains(stderr, want) {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		t.Errorf("not every problem reported at once (stderr does not name %v); stderr:\n%s", missing, stderr)
	}
}

// TestBadKeysFile: a keys file with several bad keys refuses to start, naming
// the file and every bad key's path.
func TestBadKeysFile(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	dir := t.TempDir()
	keys, _ := esKeysFile(t)
	var good struct{ Keys []map[string]any }
	if err := json.Unmarshal(keys, &good); err != nil {
		t.Fatal(err)
	}
	noKID := cloneMap(good.Keys[0])
	delete(noKID, "kid")
	public := cloneMap(good.Keys[0])
	delete(public, "d")
	public["kid"] = "public-only"
	enc := cloneMap(good.Keys[0])
	enc["kid"], enc["use"] = "for-encryption", "enc"
	hmac := map[string]any{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}
	wrongAlg := cloneMap(good.Keys[0])
	wrongAlg["kid"], wrongAlg["alg"] = "wrong-alg", "RS256"
	dup := cloneMap(good.Keys[0])
	doc, _ := json.Marshal(map[string]any{"keys": []any{good.Keys[0], noKID, public, enc, hmac, wrongAlg, dup}})
	keysPath := filepath.Join(dir, "bad-keys.json")
	if err := os.WriteFile(keysPath, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(cfg, []byte(up.policy("", "")("https://sts.example.com")), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runTokex(t, "TOKEX_CONFIG="+cfg, "TOKEX_KEYS="+keysPath)
	if code == 0 {
		t.Fatalf("tokex started with a bad keys file")
	}
	for _, want := range []string{keysPath, "keys[1].kid", "keys[2].d", "keys[3].use", "keys[4]", "keys[5].alg", "keys[6].kid"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not name %q", want)
		}
	}
	if strings.Contains(stderr, good.Keys[0]["d"].(string)) {
		t.Errorf("stderr holds private key material")
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", stderr)
	}

	// A keys file that is not JSON at all.
	if err := os.WriteFile(keysPath, []byte("-----BEGIN PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runTokex(t, "TOKEX_CONFIG="+cfg, "TOKEX_KEYS="+keysPath); code == 0 || !strings.Contains(stderr, keysPath) {
		t.Errorf("a PEM keys file: exit %d, stderr %s", code, stderr)
	}
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
