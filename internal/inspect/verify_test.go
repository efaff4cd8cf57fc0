package inspect

import (
	"context"
	"strings"
	"testing"

	"github.com/tokex/tokex/internal/testidp"
)

// TestVerify: --verify fetches the issuer's metadata and JWKS from a real
// (httptest) IdP and checks the signature; each way it can fail says why.
func TestVerify(t *testing.T) {
	p := testidp.New(t)
	rfc8414 := testidp.New(t, testidp.WithoutOIDCDiscovery(), testidp.WithIssuerPath("/tenant1"))
	other := testidp.New(t)
	down := testidp.New(t, testidp.WithJWKSMode(testidp.Fail))
	published := p.KID(testidp.RS256)
	tests := []struct {
		name       string
		token      string
		issuer     string // --issuer
		wantOK     bool
		wantDetail string
		wantFix    string
	}{
		{name: "good", token: p.Sign(p.Claims("alice", "api")), wantOK: true, wantDetail: "verifies with the keys " + p.Issuer() + " publishes"},
		{name: "good ES256 without kid", token: p.Sign(p.Claims("alice", "api"), testidp.Alg(testidp.ES256), testidp.NoKID()), wantOK: true},
		{name: "good via RFC 8414", token: rfc8414.Sign(rfc8414.Claims("alice", "api")), wantOK: true},
		{name: "foreign key", token: p.Sign(p.Claims("alice", "api"), testidp.Foreign()), wantDetail: "is not among the 2 keys", wantFix: "a key its issuer does not publish"},
		{name: "foreign key with a published kid", token: p.Sign(p.Claims("alice", "api"), testidp.Foreign(), testidp.KID(published)), wantDetail: "invalid signature: it does not verify with the keys"},
		{name: "another issuer's token", token: other.Sign(other.Claims("alice", "api")), issuer: p.Issuer(), wantDetail: "is not among", wantFix: "the token is from " + `"` + other.Issuer() + `"`},
		{name: "HMAC", token: p.Sign(p.Claims("alice", "api"), testidp.HS256WithPublicKey()), wantDetail: "is HMAC"},
		{name: "keys unavailable", token: down.Sign(down.Claims("alice", "api")), wantDetail: "HTTP 500", wantFix: "publishes OpenID Connect discovery or RFC 8414 metadata"},
		{name: "plain http to a remote host", token: p.Sign(testidp.New(t).Claims("alice", "api")), issuer: "http://idp.example.com", wantDetail: "is not https"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Inspect(context.Background(), tc.token, Options{Issuer: tc.issuer, Verify: true})
			var sig *Check
			for i := range r.Checks {
				if r.Checks[i].Name == checkSig {
					sig = &r.Checks[i]
				}
			}
			if sig == nil {
				t.Fatalf("no signature check: %+v", r.Checks)
			}
			if sig.OK != tc.wantOK || !strings.Contains(sig.Detail, tc.wantDetail) || !strings.Contains(sig.Fix, tc.wantFix) {
				t.Errorf("signature check = %+v; want ok %v, detail ~ %q, fix ~ %q", *sig, tc.wantOK, tc.wantDetail, tc.wantFix)
			}
		})
	}
}

// TestOfflineWithoutVerify: without Verify nothing is fetched, and the
// signature is reported as not checked.
func TestOfflineWithoutVerify(t *testing.T) {
	p := testidp.New(t)
	r := Inspect(context.Background(), p.Sign(p.Claims("alice", "api")), Options{Issuer: p.Issuer(), Audience: "api"})
	if n := p.DiscoveryFetches() + p.JWKSFetches(); n != 0 {
		t.Errorf("%d requests to the IdP without --verify", n)
	}
	if r.Verdict != Accepted || r.ExitCode() != 0 || len(r.NotChecked) != 1 || r.NotChecked[0] != checkSig {
		t.Errorf("verdict %s, exit %d, not checked %v", r.Verdict, r.ExitCode(), r.NotChecked)
	}
}
