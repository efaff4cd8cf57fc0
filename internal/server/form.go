package server

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/tokex/tokex/api"
)

// formError is a form that cannot be read; its text is safe for clients.
type formError struct{ msg string }

func (e *formError) Error() string { return e.msg }

// BindTokenRequest reads a token request from a form-urlencoded body. A
// parameter given twice is refused (RFC 6749 §3.2: parameters MUST NOT be
// included more than once); an empty value means absent (SPEC §5); unknown
// parameters are ignored (RFC 6749 §3.2). It walks the body once without
// building a map: this runs on every exchange.
func BindTokenRequest(body string) (api.TokenRequest, error) {
	var r api.TokenRequest
	var seen uint16
	for body != "" {
		var pair string
		pair, body, _ = strings.Cut(body, "&")
		if pair == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		if strings.Contains(rawKey, ";") {
			// As url.ParseQuery: a semicolon separator is ambiguous (Go 1.17+).
			return api.TokenRequest{}, &formError{"the request body is not valid application/x-www-form-urlencoded"}
		}
		key, err1 := unescape(rawKey)
		value, err2 := unescape(rawValue)
		if err1 != nil || err2 != nil {
			return api.TokenRequest{}, &formError{"the request body is not valid application/x-www-form-urlencoded"}
		}
		dst, bit := fieldOf(&r, key)
		if dst == nil {
			continue
		}
		if seen&bit != 0 {
			return api.TokenRequest{}, &formError{fmt.Sprintf("parameter %s is given more than once", key)}
		}
		seen |= bit
		*dst = value
	}
	return r, nil
}

func fieldOf(r *api.TokenRequest, name string) (*string, uint16) {
	switch name {
	case api.ParamGrantType:
		return &r.GrantType, 1 << 0
	case api.ParamSubjectToken:
		return &r.SubjectToken, 1 << 1
	case api.ParamSubjectTokenType:
		return &r.SubjectTokenType, 1 << 2
	case api.ParamActorToken:
		return &r.ActorToken, 1 << 3
	case api.ParamActorTokenType:
		return &r.ActorTokenType, 1 << 4
	case api.ParamRequestedTokenType:
		return &r.RequestedTokenType, 1 << 5
	case api.ParamAudience:
		return &r.Audience, 1 << 6
	case api.ParamResource:
		return &r.Resource, 1 << 7
	case api.ParamScope:
		return &r.Scope, 1 << 8
	case api.ParamClientID:
		return &r.ClientID, 1 << 9
	case api.ParamClientSecret:
		return &r.ClientSecret, 1 << 10
	case api.ParamClientAssertion:
		return &r.ClientAssertion, 1 << 11
	case api.ParamClientAssertionType:
		return &r.ClientAssertionType, 1 << 12
	case api.ParamAssertion:
		return &r.Assertion, 1 << 13
	case api.ParamRequestContext:
		return &r.RequestContext, 1 << 14
	case api.ParamRequestDetails:
		return &r.RequestDetails, 1 << 15
	}
	return nil, 0
}

// unescape is url.QueryUnescape, skipped for the common value that has nothing
// to unescape (tokens are base64url, and QueryUnescape walks them byte by
// byte) and for the RFC 8693 URNs as clients encode them.
func unescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 { // vectorised, unlike ContainsAny
		return s, nil
	}
	if u, ok := encodedURNs[s]; ok {
		return u, nil
	}
	return url.QueryUnescape(s)
}

// encodedURNs maps the form encoding of the grant type and token type URNs
// (":" as %3A) to the URNs: sent on every exchange.
var encodedURNs = func() map[string]string {
	m := map[string]string{}
	for _, u := range []string{api.GrantTypeTokenExchange, api.TokenTypeAccessToken, api.TokenTypeJWT, api.TokenTypeIDToken, api.TokenTypeTxnToken, api.TokenTypeIDJAG, api.ClientAssertionTypeJWTBearer} {
		m[url.QueryEscape(u)] = u
		m[strings.ReplaceAll(u, ":", "%3a")] = u // lower-case hex is as valid
	}
	return m
}()
