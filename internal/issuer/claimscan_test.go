package issuer

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
)

// issuerClaims are claim sets shaped as the IdPs of deploy/examples mint
// them: each must take the fast path.
var issuerClaims = map[string]string{
	"entra v2":           `{"aud":"api://orders","iss":"https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0","iat":1790000000,"nbf":1790000000,"exp":1790003600,"aio":"AWQAm/8YAAAA","azp":"6e74172b-be56-4843-9ff4-e66a39bb12e3","azpacr":"1","name":"Alice Müller","oid":"00000000-0000-0000-66f3-3332eca7ea81","preferred_username":"alice@contoso.com","rh":"0.AQ8AgQ.","roles":["Orders.Read","Orders.Write"],"scp":"orders.read","sub":"AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ","tid":"9188040d-6c67-4c5b-b112-36a304b66dad","uti":"fqiBqXLPj0eQa82S-IYFAA","ver":"2.0"}`,
	"auth0":              `{"iss":"https://example.us.auth0.com/","sub":"auth0|64b7e1f2","aud":["https://orders.example.com","https://example.us.auth0.com/userinfo"],"iat":1790000000,"exp":1790086400,"scope":"openid profile orders.read","azp":"QGZ3uU8VWdNmVdAbCdEf","permissions":["orders.read"]}`,
	"okta":               `{"ver":1,"jti":"AT.n9RvE7sd0nQ","iss":"https://example.okta.com/oauth2/default","aud":"api://default","iat":1790000000,"exp":1790003600,"cid":"0oa1b2c3d4","uid":"00u1b2c3d4","scp":["orders.read"],"auth_time":1789999000,"sub":"alice@example.com","groups":["Everyone","orders"]}`,
	"cognito":            `{"sub":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","cognito:groups":["admin"],"iss":"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_example","version":2,"client_id":"7d8f9g0h1j2k3l4m5n6o","origin_jti":"f1e2","event_id":"a1b2","token_use":"access","scope":"orders/read","auth_time":1790000000,"exp":1790003600,"iat":1790000000,"jti":"c3d4","username":"alice"}`,
	"google":             `{"iss":"https://accounts.google.com","azp":"1234.apps.googleusercontent.com","aud":"1234.apps.googleusercontent.com","sub":"110169484474386276334","hd":"example.com","email":"alice@example.com","email_verified":true,"at_hash":"HK6E_P6Dh8Y93mRNtsDB1Q","nonce":"n-0S6_WzA2Mj","iat":1790000000,"exp":1790003600}`,
	"github actions":     `{"jti":"example-id","sub":"repo:octo-org/octo-repo:environment:prod","environment":"prod","aud":"https://github.com/octo-org","ref":"refs/heads/main","sha":"example-sha","repository":"octo-org/octo-repo","repository_owner":"octo-org","actor_id":"12","repository_visibility":"private","repository_id":"74","repository_owner_id":"65","run_id":"example-run-id","run_number":"10","run_attempt":"2","runner_environment":"github-hosted","actor":"octocat","workflow":"example-workflow","head_ref":"","base_ref":"","event_name":"workflow_dispatch","ref_type":"branch","job_workflow_ref":"octo-org/octo-automation/.github/workflows/oidc.yml@refs/heads/main","iss":"https://token.actions.githubusercontent.com","nbf":1790000000,"exp":1790000900,"iat":1790000000}`,
	"kubernetes":         `{"aud":["https://sts.example.com"],"exp":1790003600,"iat":1790000000,"iss":"https://kubernetes.default.svc.cluster.local","jti":"d6e3c4f1","kubernetes.io":{"namespace":"shop","node":{"name":"node-1","uid":"0b1c"},"pod":{"name":"orders-7d9","uid":"5a6b"},"serviceaccount":{"name":"orders","uid":"9c8d"}},"nbf":1790000000,"sub":"system:serviceaccount:shop:orders"}`,
	"odd types":          `{"client_id":7,"nonce":false,"tid":null,"azp":{"a":[1,{"b":null}]},"aud":[],"at_hash":"","iss":"https://idp.example.com"}`,
	"keycloak delegated": `{"exp":1790003600,"iat":1790000000,"jti":"onrtac:1","iss":"https://sso.example.com/realms/shop","aud":"orders","sub":"f:1:alice","typ":"Bearer","azp":"web","realm_access":{"roles":["offline_access","uma_authorization"]},"scope":"profile email","act":{"sub":"gateway","act":{"sub":"edge"}},"sid":"3f2e","acr":1.5e0,"amr":null,"tokex_tenant":-0}`,
}

func TestScanClaimsIssuerShapes(t *testing.T) {
	for name, doc := range issuerClaims {
		t.Run(name, func(t *testing.T) {
			var fast tokenClaims
			if !scanClaims([]byte(doc), &fast) {
				t.Fatal("not decoded by the fast path")
			}
			var want tokenClaims
			if err := jsonv2.Unmarshal([]byte(doc), &want); err != nil {
				t.Fatal(err)
			}
			if !sameClaims(fast, want) {
				t.Errorf("fast path: %+v\njson v2:   %+v", fast, want)
			}
		})
	}
}

// sameClaims compares what was decoded, not where a single aud is kept.
func sameClaims(a, b tokenClaims) bool {
	a.aud1, b.aud1 = [1]string{}, [1]string{}
	return reflect.DeepEqual(a, b)
}

// TestScanClaimsDefers: what the scanner leaves to json v2, and json v2's
// answer, which decodeClaims gives.
func TestScanClaimsDefers(t *testing.T) {
	for _, tc := range []struct {
		doc    string
		refuse bool // json v2 refuses it
	}{
		{`{"iss":"a","iss":"b"}`, true},
		{`{"iss":"a","\u0069ss":"b"}`, true},
		{`{"x":{"k":1,"k":2}}`, true},
		{`{"sub":"caf\u00e9"}`, false},
		{`{"sub":"a\nb"}`, false},
		{"{\"sub\":\"a\nb\"}", true},
		{`{"sub":"` + "\xff" + `"}`, true},
		{`{"iss":5}`, true},
		{`{"iss":null}`, false},
		{`{"exp":"1790000000"}`, false}, // kept, refused by the time check
		{`{"aud":[1]}`, true},
		{`{"aud":{}}`, true},
		{`{"client_id":{"a":1,"a":2}}`, true},
		{`{"client_id":"\u0061"}`, false},
		{`{"sub":"a"} {}`, true},
		{`{"sub":"a",}`, true},
		{`[]`, true},
		{"\ufeff{}", true},
		{`{"n":01}`, true},
		{`{"n":1.}`, true},
		{`{"n":-}`, true},
		{`{"n":1e}`, true},
		{`{"n":tru}`, true},
		{``, true},
		{`{"d":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}`, false},
	} {
		var fast tokenClaims
		if scanClaims([]byte(tc.doc), &fast) {
			t.Errorf("%s: taken by the fast path", tc.doc)
			continue
		}
		var c, want tokenClaims
		err := decodeClaims([]byte(tc.doc), &c)
		werr := jsonv2.Unmarshal([]byte(tc.doc), &want)
		if (err != nil) != tc.refuse || (werr != nil) != tc.refuse {
			t.Errorf("%s: decodeClaims error %v, json v2 error %v; want refused=%v", tc.doc, err, werr, tc.refuse)
		}
		if err == nil && !sameClaims(c, want) {
			t.Errorf("%s: decodeClaims %+v, json v2 %+v", tc.doc, c, want)
		}
	}
}

// FuzzScanClaims holds the fast path to json v2: whatever it takes, json v2
// takes too, with the same result.
func FuzzScanClaims(f *testing.F) {
	for _, doc := range issuerClaims {
		f.Add([]byte(doc))
	}
	for _, doc := range []string{`{}`, ` { "aud" : [ ] , "exp" : 1e3 } `, `{"exp":1.5,"nbf":-0.25e-1,"iat":null}`,
		`{"exp":1e400}`, `{"aud":null,"act":null}`, `{"act":[1,{"a":[]}],"sub":""}`, `{"a":1,"b":2,"a":3}`,
		`{"sub":"\u00e9"}`, "{\"sub\":\"\xe2\x82\"}", `{"aud":["a","a"]}`} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast tokenClaims
		if !scanClaims(b, &fast) {
			return
		}
		var want tokenClaims
		if err := jsonv2.Unmarshal(b, &want); err != nil {
			t.Fatalf("fast path took %q, json v2 refuses it: %v", b, err)
		}
		if !sameClaims(fast, want) {
			t.Fatalf("%q: fast path %+v, json v2 %+v", b, fast, want)
		}
	})
}

// TestFromNumber: the integer shortcut gives what ParseFloat gives.
func TestFromNumber(t *testing.T) {
	for _, lit := range []string{"0", "7", "1790000000", "999999999999999", "1000000000000000", "9007199254740993",
		"-5", "-0", "1.5", "1e3", "1790000000.999", "-1.25"} {
		var got numericDate
		got.fromNumber(lit)
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil {
			t.Fatal(err)
		}
		sec, frac := math.Modf(f)
		if want := time.Unix(int64(sec), int64(frac*1e9)); !got.set || !got.d.Equal(want) {
			t.Errorf("%s: %v (set %v), want %v", lit, got.d.Time, got.set, want)
		}
	}
}
