package server

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/tokex/tokex/api"
)

// TestMain is the server package's one TestMain (internal and external test
// files share it): every test must leave no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// params are the parameters BindTokenRequest knows, with the field each fills.
var params = []struct {
	name  string
	field func(*api.TokenRequest) *string
}{
	{api.ParamGrantType, func(r *api.TokenRequest) *string { return &r.GrantType }},
	{api.ParamSubjectToken, func(r *api.TokenRequest) *string { return &r.SubjectToken }},
	{api.ParamSubjectTokenType, func(r *api.TokenRequest) *string { return &r.SubjectTokenType }},
	{api.ParamActorToken, func(r *api.TokenRequest) *string { return &r.ActorToken }},
	{api.ParamActorTokenType, func(r *api.TokenRequest) *string { return &r.ActorTokenType }},
	{api.ParamRequestedTokenType, func(r *api.TokenRequest) *string { return &r.RequestedTokenType }},
	{api.ParamAudience, func(r *api.TokenRequest) *string { return &r.Audience }},
	{api.ParamResource, func(r *api.TokenRequest) *string { return &r.Resource }},
	{api.ParamScope, func(r *api.TokenRequest) *string { return &r.Scope }},
	{api.ParamClientID, func(r *api.TokenRequest) *string { return &r.ClientID }},
	{api.ParamClientSecret, func(r *api.TokenRequest) *string { return &r.ClientSecret }},
	{api.ParamClientAssertion, func(r *api.TokenRequest) *string { return &r.ClientAssertion }},
	{api.ParamClientAssertionType, func(r *api.TokenRequest) *string { return &r.ClientAssertionType }},
	{api.ParamAssertion, func(r *api.TokenRequest) *string { return &r.Assertion }},
	{api.ParamRequestContext, func(r *api.TokenRequest) *string { return &r.RequestContext }},
	{api.ParamRequestDetails, func(r *api.TokenRequest) *string { return &r.RequestDetails }},
}

func TestBindTokenRequestKnowsEveryField(t *testing.T) {
	// Every string field of api.TokenRequest is bound: a new field without a
	// binding would be silently empty.
	if n := reflect.TypeFor[api.TokenRequest]().NumField(); n != len(params) {
		t.Fatalf("api.TokenRequest has %d fields, the test knows %d", n, len(params))
	}
	for _, p := range params {
		t.Run(p.name, func(t *testing.T) {
			r, err := BindTokenRequest(url.Values{p.name: {"v-" + p.name}}.Encode())
			if err != nil {
				t.Fatal(err)
			}
			var want api.TokenRequest
			*p.field(&want) = "v-" + p.name
			if r != want {
				t.Errorf("bound %+v, want %+v", r, want)
			}
		})
	}
}

func TestBindTokenRequest(t *testing.T) {
	const token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"
	tests := []struct {
		name    string
		body    string
		want    api.TokenRequest
		wantErr bool
	}{
		{
			name: "full exchange request",
			body: "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=" + token +
				"&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&audience=https%3A%2F%2Fapi.example.com" +
				"&scope=orders.read+orders.write&client_id=orders&client_secret=a%2Bb",
			want: api.TokenRequest{
				GrantType: api.GrantTypeTokenExchange, SubjectToken: token, SubjectTokenType: api.TokenTypeAccessToken,
				Audience: "https://api.example.com", Scope: "orders.read orders.write", ClientID: "orders", ClientSecret: "a+b",
			},
		},
		{name: "empty body", body: "", want: api.TokenRequest{}},
		{name: "empty value means absent", body: "scope=&audience=", want: api.TokenRequest{}},
		{name: "key without '='", body: "scope&resource=r", want: api.TokenRequest{Resource: "r"}},
		{name: "unknown parameters are ignored", body: "foo=1&foo=2&scope=s", want: api.TokenRequest{Scope: "s"}},
		{name: "%20 and '+' both decode to a space", body: "scope=a%20b+c", want: api.TokenRequest{Scope: "a b c"}},
		{name: "unicode", body: "audience=" + url.QueryEscape("https://例え.jp/ä"), want: api.TokenRequest{Audience: "https://例え.jp/ä"}},
		{name: "a semicolon is not a separator", body: "scope=a;audience=b", want: api.TokenRequest{Scope: "a;audience=b"}},
		{name: "parameter names are case-sensitive", body: "Scope=x&scope=y", want: api.TokenRequest{Scope: "y"}},

		{name: "parameter given twice", body: "scope=a&scope=b", wantErr: true},
		{name: "parameter given twice with the same value", body: "audience=x&audience=x", wantErr: true},
		{name: "parameter given twice, both empty", body: "scope=&scope=", wantErr: true},
		{name: "parameter given twice, one empty", body: "subject_token=" + token + "&subject_token=", wantErr: true},
		{name: "parameter given twice, one percent-encoded name", body: "grant%5Ftype=a&grant_type=b", wantErr: true},
		{name: "client_secret twice", body: "client_secret=a&client_secret=b", wantErr: true},
		{name: "bad percent-encoding", body: "scope=%zz", wantErr: true},
		{name: "bad percent-encoding in a name", body: "sc%ope=x", wantErr: true},
		{name: "semicolon in a name", body: "scope;audience=b", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BindTokenRequest(tc.body)
			if tc.wantErr {
				var fe *formError
				if !errors.As(err, &fe) {
					t.Fatalf("BindTokenRequest = %+v, %v; want a *formError", got, err)
				}
				if got != (api.TokenRequest{}) {
					t.Errorf("a refused form bound %+v", got)
				}
				if strings.Contains(fe.Error(), token) {
					t.Errorf("the error echoes the token: %v", fe)
				}
				return
			}
			if err != nil {
				t.Fatalf("BindTokenRequest: %v", err)
			}
			if got != tc.want {
				t.Errorf("bound\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

// FuzzBindTokenRequest: BindTokenRequest never panics; a parameter given twice is
// always refused, whatever else the body holds; every refusal is a *formError
// (whose text is safe for clients); and a body encoded from url.Values binds back
// to exactly those values. Seeds: testdata/fuzz/FuzzBindTokenRequest.
func FuzzBindTokenRequest(f *testing.F) {
	f.Add("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=a.b.c&scope=x+y", "urn:ietf:params:oauth:grant-type:token-exchange", "a.b.c", "x y", "https://api.example.com")
	f.Add("scope=a&scope=b", "", "", "", "")
	f.Add("%zz=1&a;b", "a+b", "%2B", "a=b&c", "ä")
	f.Fuzz(func(t *testing.T, body, v1, v2, v3, v4 string) {
		// Any body: no panic, and a refusal is a formError.
		if _, err := BindTokenRequest(body); err != nil {
			var fe *formError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *formError: %v", err, err)
			}
		}

		// Duplicates always error, appended after anything.
		vs := []string{v1, v2, v3, v4}
		for i, p := range params {
			dup := body + "&" + p.name + "=" + url.QueryEscape(vs[i%4]) + "&" + p.name + "=" + url.QueryEscape(vs[(i+1)%4])
			if r, err := BindTokenRequest(dup); err == nil {
				t.Fatalf("%s given twice was accepted: %+v", p.name, r)
			}
		}

		// Round trip: url.Values -> Encode -> BindTokenRequest.
		values := url.Values{}
		var want api.TokenRequest
		for i, p := range params {
			v := vs[i%4]
			values.Set(p.name, v)
			*p.field(&want) = v
		}
		values.Set("unknown_extension", v1)
		got, err := BindTokenRequest(values.Encode())
		if err != nil {
			t.Fatalf("an encoded form was refused: %v", err)
		}
		if got != want {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
		}
	})
}

// TestEncodedURNs holds the URN shortcut of unescape to url.QueryUnescape.
func TestEncodedURNs(t *testing.T) {
	if len(encodedURNs) < 8 {
		t.Fatalf("encodedURNs has %d entries", len(encodedURNs))
	}
	for enc, urn := range encodedURNs {
		if want, err := url.QueryUnescape(enc); err != nil || want != urn {
			t.Errorf("%q: shortcut gives %q, QueryUnescape %q (%v)", enc, urn, want, err)
		}
		if got, err := unescape(enc); err != nil || got != urn {
			t.Errorf("unescape(%q) = %q, %v", enc, got, err)
		}
	}
}

func TestIsForm(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/x-www-form-urlencoded":                   true,
		"application/x-www-form-urlencoded; charset=UTF-8":    true,
		"Application/X-WWW-Form-Urlencoded":                   true,
		" application/x-www-form-urlencoded ":                 true,
		"application/x-www-form-urlencoded; charset":          false, // malformed parameter
		"application/x-www-form-urlencoded, application/json": false,
		"application/json":                                    false,
		"multipart/form-data; boundary=x":                     false,
		"":                                                    false,
	} {
		if got := isForm(ct); got != want {
			t.Errorf("isForm(%q) = %v, want %v", ct, got, want)
		}
	}
}
