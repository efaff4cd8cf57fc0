package server

import (
	"fmt"
	"net/url"

	"github.com/tokex/tokex/api"
)

// formError is a form that cannot be read; its text is safe for clients.
type formError struct{ msg string }

func (e *formError) Error() string { return e.msg }

// BindTokenRequest reads a token request from a form-urlencoded body. A
// parameter given twice is refused (RFC 6749 §3.2: parameters MUST NOT be
// included more than once); an empty value means absent (SPEC §5); unknown
// parameters are ignored (RFC 6749 §3.2).
func BindTokenRequest(body string) (api.TokenRequest, error) {
	values, err := url.ParseQuery(body)
	if err != nil {
		return api.TokenRequest{}, &formError{"the request body is not valid application/x-www-form-urlencoded"}
	}
	var r api.TokenRequest
	fields := map[string]*string{
		api.ParamGrantType:           &r.GrantType,
		api.ParamSubjectToken:        &r.SubjectToken,
		api.ParamSubjectTokenType:    &r.SubjectTokenType,
		api.ParamActorToken:          &r.ActorToken,
		api.ParamActorTokenType:      &r.ActorTokenType,
		api.ParamRequestedTokenType:  &r.RequestedTokenType,
		api.ParamAudience:            &r.Audience,
		api.ParamResource:            &r.Resource,
		api.ParamScope:               &r.Scope,
		api.ParamClientID:            &r.ClientID,
		api.ParamClientSecret:        &r.ClientSecret,
		api.ParamClientAssertion:     &r.ClientAssertion,
		api.ParamClientAssertionType: &r.ClientAssertionType,
	}
	for name, vs := range values {
		dst, ok := fields[name]
		if !ok {
			continue
		}
		if len(vs) > 1 {
			return api.TokenRequest{}, &formError{fmt.Sprintf("parameter %s is given more than once", name)}
		}
		*dst = vs[0]
	}
	return r, nil
}
