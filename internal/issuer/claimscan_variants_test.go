package issuer

import (
	"os"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/tokex/tokex/internal/testidp/variants"
)

// TestScanClaimsVariants holds the claim scanner to json v2 (as
// FuzzScanClaims does) on the claims of the differential check's variants
// (interop TestDifferentialJose, same TOKEX_DIFF_SEED and TOKEX_DIFF_N):
// whatever the scanner takes, json v2 takes with the same result, and
// decodeClaims gives json v2's answer. Delete it with claimscan.go.
func TestScanClaimsVariants(t *testing.T) {
	seed, n, err := variants.Params(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	vs := variants.Generate(seed, n, nil, variants.Policy{
		Issuer: "https://idp.diff.example", Audience: "https://sts.diff.example", Subject: "alice",
		Now: time.Unix(1790000000, 0), Leeway: 30 * time.Second,
	})
	fast := 0
	for _, v := range vs {
		var got, want tokenClaims
		werr := jsonv2.Unmarshal(v.Claims, &want)
		if scanClaims(v.Claims, &got) {
			fast++
			if werr != nil {
				t.Errorf("#%d %s: the scanner takes %.80q, json v2 refuses it: %v", v.Index, v.Desc, v.Claims, werr)
			} else if !sameClaims(got, want) {
				t.Errorf("#%d %s: scanner %+v, json v2 %+v", v.Index, v.Desc, got, want)
			}
		}
		got = tokenClaims{}
		err := decodeClaims(v.Claims, &got)
		if (err != nil) != (werr != nil) || (err == nil && !sameClaims(got, want)) {
			t.Errorf("#%d %s: decodeClaims %+v, %v; json v2 %+v, %v", v.Index, v.Desc, got, err, want, werr)
		}
	}
	t.Logf("seed %#x: %d claim sets, %d taken by the scanner", seed, len(vs), fast)
	if fast < len(vs)/4 {
		t.Errorf("the scanner took only %d of %d claim sets: the check says little", fast, len(vs))
	}
}
