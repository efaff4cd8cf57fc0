package interop

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokex/tokex/internal/testidp"
)

// TestNodeProfiles runs node/profiles.mjs against a tokex whose policy has a
// txn_token rule and an id_jag rule: openid-client requests a Transaction
// Token and an ID-JAG (both answered with token_type N_A), jose verifies them
// by their typ, and oauth4webapi redeems the ID-JAG with the JWT bearer grant
// at a resource authorization server the script runs. The subjects come from
// two fake identity providers: an access token from corp, an ID token issued
// to the client from workforce.
func TestNodeProfiles(t *testing.T) {
	const (
		client      = "orders"
		secret      = "orders-interop-secret"
		stsAud      = "tokex-interop"
		trustDomain = "https://trust.example.com"
		resourceAS  = "https://as.wiki.example"
		resource    = "https://api.wiki.example"
		asClient    = "orders-at-wiki"
	)
	corp, workforce := testidp.New(t), testidp.New(t)
	sum := sha256.Sum256([]byte(secret))
	policy := fmt.Sprintf(`issuer: https://sts.interop.test   # replaced by TOKEX_ISSUER
issuers:
  - name: corp
    issuer_url: %q
    jwks_uri: %q
    audiences: [%s]
  - name: workforce
    issuer_url: %q
    jwks_uri: %q
    token_types: [id_token]
    id_token_audiences: [%[6]s]
clients:
  - id: %[6]s
    secret_sha256: %[7]s
rules:
  - name: checkout-txn
    profile: txn_token
    clients: [%[6]s]
    issuers: [corp]
    trust_domain: %[8]s
    scopes: [checkout, refund]
    require: 'request_details.amount < 1000'
    max_replacements: 1
    tctx: {tier: claims.tier}
    rctx: {req_ip: request_context.req_ip}
  - name: orders-to-wiki
    profile: id_jag
    clients: [%[6]s]
    issuers: [workforce]
    authorization_servers:
      - issuer: %[9]s
        client_id: %[10]s
        scopes: [wiki.read, wiki.write]
        resources: [%[11]s]
`, corp.Issuer(), corp.JWKSURI(), stsAud, workforce.Issuer(), workforce.JWKSURI(), client, hex.EncodeToString(sum[:]),
		trustDomain, resourceAS, asClient, resource)
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startForTest(t, "", "TOKEX_CONFIG="+file)

	access := corp.Claims("alice", stsAud)
	access["tier"] = "gold"
	id := workforce.Claims("alice", client)
	id["nonce"], id["auth_time"], id["acr"], id["amr"], id["tid"] = "n-0S6_WzA2Mj", time.Now().Add(-5*time.Minute).Unix(), "urn:example:mfa", []string{"pwd", "otp"}, "tenant-1"

	runNodeScript(t, "profiles.mjs", "ISSUER="+srv.issuer, "CLIENT_ID="+client, "CLIENT_SECRET="+secret,
		"SUBJECT_TOKEN="+corp.Sign(access), "ID_TOKEN="+workforce.Sign(id),
		"TRUST_DOMAIN="+trustDomain, "RESOURCE_AS="+resourceAS, "RESOURCE="+resource, "AS_CLIENT_ID="+asClient)
}
