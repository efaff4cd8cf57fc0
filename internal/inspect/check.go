package inspect

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tokex/tokex/internal/idp"
)

// check runs what an API expecting o.Issuer and o.Audience would check,
// and sets the verdict.
func (r *Report) check(ctx context.Context, raw string, header map[string]any, o Options) {
	m, known := r.match, r.known
	add := func(name string, ok bool, detail, fix string) {
		r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: detail, Fix: fix})
	}
	if len(r.Malformed) > 0 {
		add(checkForm, false, strings.Join(r.Malformed, "; "),
			"strict validators (tokex among them) refuse this encoding: the token was altered (copied with padding, line breaks or quotes?) or its issuer does not follow RFC 7515")
	} else {
		add(checkForm, true, "a JWS compact serialization (RFC 7515), strictly encoded", "")
	}
	add(checkKind, r.kindOK(), r.kindText(), r.kindFix(m, known, o))
	r.checkSignature(ctx, raw, header, m, known, o, add)
	if o.Issuer != "" {
		ok, detail, fix := r.issuerCheck(o.Issuer)
		add(checkIss, ok, detail, fix)
	} else {
		r.NotChecked = append(r.NotChecked, checkIss)
	}
	if o.Audience != "" {
		ok, detail, fix := r.audienceCheck(m, known, o)
		add(checkAud, ok, detail, fix)
	} else {
		r.NotChecked = append(r.NotChecked, checkAud)
	}
	ok, detail, fix := r.timeCheck()
	add(checkTime, ok, detail, fix)
	r.Verdict = Accepted
	for _, c := range r.Checks {
		if !c.OK {
			r.Verdict = Refused
		}
	}
}

func (r *Report) kindOK() bool {
	switch r.Kind {
	case KindAccessToken, KindJWT:
		return true
	case KindIDToken:
		// A provider that issues only ID tokens (Google) is sent them with a
		// custom audience; only the ID token tells refuse.
		return r.idTell == ""
	}
	return false
}

func (r *Report) kindText() string {
	names := map[string]string{
		KindAccessToken: "an access token", KindIDToken: "an ID token", KindJWT: "a JWT of no known profile",
		KindTxnToken: "a Transaction Token", KindIDJAG: "an ID-JAG (Identity Assertion JWT Authorization Grant)", KindDPoPProof: "a DPoP proof",
	}
	return names[r.Kind] + ": " + r.KindDetail
}

func (r *Report) kindFix(m idp.Match, known bool, o Options) string {
	if r.kindOK() {
		return ""
	}
	switch r.Kind {
	case KindIDToken:
		return r.idTokenFix(m, known, o)
	case KindDPoPProof:
		return "a DPoP proof goes in the DPoP header, next to the access token (Authorization: DPoP <access token>); it is not a token for an API on its own"
	case KindTxnToken:
		return "a Transaction Token travels between services of one trust domain in the Txn-Token header; it is not an access token"
	case KindIDJAG:
		return "an ID-JAG is a grant: present it to the resource's authorization server (grant_type urn:ietf:params:oauth:grant-type:jwt-bearer) for an access token"
	}
	return ""
}

// idTokenFix: "this is an ID token for client X: request an access token for ...".
func (r *Report) idTokenFix(m idp.Match, known bool, o Options) string {
	for_ := "request an access token for your API from the same identity provider and send that instead"
	if known && m.Shape.AudienceFix != "" {
		for_ = m.Shape.AudienceFixFor(audienceOr(o))
	}
	return fmt.Sprintf("this is an ID token for client %s: it proves a sign-in to that client and authorizes nothing; %s", quoteList(r.Audience), for_)
}

func audienceOr(o Options) string {
	if o.Audience != "" {
		return strings.TrimSuffix(o.Audience, "/")
	}
	return yourAPI
}

// checkSignature: a Graph token fails it whatever the keys; otherwise it is
// checked only with Verify.
func (r *Report) checkSignature(ctx context.Context, raw string, header map[string]any, m idp.Match, known bool, o Options, add func(string, bool, string, string)) {
	alg := r.Alg
	switch {
	case known && m.Shape.Unverifiable:
		detail := "a " + m.Shape.Name + ": its signature verifies only at the resource it is for"
		if idp.GraphHeader(header) {
			detail += " (the header carries a nonce, hashed before signing)"
		}
		add(checkSig, false, detail, "this is a Microsoft Graph token; only Graph can validate it: request a token for "+audienceOr(o)+"/.default")
		return
	case strings.EqualFold(alg, "none"):
		add(checkSig, false, "alg none: the token is not signed", "never accept an unsigned token; get a signed one from its issuer")
		return
	}
	if !o.Verify {
		r.NotChecked = append(r.NotChecked, checkSig)
		return
	}
	base := o.Issuer
	if base == "" {
		base = r.Issuer
	}
	if base == "" {
		add(checkSig, false, "the token has no iss: there is no issuer whose keys to fetch", "give --issuer")
		return
	}
	detail, err := verify(ctx, raw, base, o)
	if err != nil {
		add(checkSig, false, err.Error(), r.signatureFix(base, err))
		return
	}
	add(checkSig, true, detail, "")
}

func (r *Report) signatureFix(base string, err error) string {
	ve, ok := err.(*verifyError)
	if !ok || ve.fetch {
		return "check that " + base + " publishes OpenID Connect discovery or RFC 8414 metadata with a jwks_uri"
	}
	if r.Issuer != base {
		return fmt.Sprintf("the token is from %q, not %q: get a token from %s", r.Issuer, base, base)
	}
	return "the token was signed with a key its issuer does not publish (a key of another issuer or environment, a rotated key, or an altered token): get a new token from " + base
}

// issuerCheck: iss must equal the expected issuer exactly.
func (r *Report) issuerCheck(want string) (bool, string, string) {
	if r.Issuer == want {
		return true, fmt.Sprintf("iss is %q", r.Issuer), ""
	}
	detail := fmt.Sprintf("iss is %q, not %q", r.Issuer, want)
	if r.Issuer == "" {
		return false, "the token has no iss", "get a token from " + want
	}
	if strings.TrimSuffix(r.Issuer, "/") == strings.TrimSuffix(want, "/") {
		return false, detail + ": they differ only by a trailing /", "issuers are compared exactly: configure the API with the iss byte for byte as the IdP's metadata says"
	}
	got, _ := idp.Recognise(idp.Token{Claims: map[string]any{"iss": r.Issuer}}, "")
	exp, _ := idp.Recognise(idp.Token{Claims: map[string]any{"iss": want}}, "")
	switch {
	case got.Shape.ID == "entra_v1" && exp.Shape.ID == "entra_v2":
		return false, detail + ": an Entra ID v1.0 token, where v2.0 tokens are expected",
			"set accessTokenAcceptedVersion: 2 in the manifest of the API's app registration (the app that exposes the scope) and request a new token; or accept the v1.0 issuer https://sts.windows.net/" + got.Params["tenant"] + "/"
	case got.Shape.ID == "entra_v2" && exp.Shape.ID == "entra_v1":
		return false, detail + ": an Entra ID v2.0 token, where v1.0 tokens are expected",
			"accept the v2.0 issuer https://login.microsoftonline.com/" + got.Params["tenant"] + "/v2.0 (aud is then the API's client id); or set accessTokenAcceptedVersion null in the API's app manifest for v1.0 tokens"
	case got.Shape.ID != "" && got.Shape.ID == exp.Shape.ID && got.Params["tenant"] != exp.Params["tenant"]:
		return false, fmt.Sprintf("%s: a token of tenant %s, not %s", detail, got.Params["tenant"], exp.Params["tenant"]), "sign in to tenant " + exp.Params["tenant"] + ", or trust the issuer of tenant " + got.Params["tenant"]
	}
	from := "another issuer"
	if got.Shape.Name != "" {
		from = got.Shape.Name
	}
	return false, detail + ": a token of " + from, "get the token from " + want + ", or trust " + r.Issuer + " if it is meant to be accepted"
}

// audienceCheck: aud (client_id for Cognito access tokens) must hold the expected audience.
func (r *Report) audienceCheck(m idp.Match, known bool, o Options) (bool, string, string) {
	aud := r.Audience
	what := "aud"
	if len(aud) == 0 && known && m.Shape.ID == "cognito_access" {
		aud, what = []string{r.ClientID}, "client_id (Cognito access tokens have no aud)"
	}
	if slices.Contains(aud, o.Audience) {
		return true, fmt.Sprintf("%s holds %q", what, o.Audience), ""
	}
	detail := fmt.Sprintf("%s is %s, not %q", what, quoteList(aud), o.Audience)
	fix := "request a token for audience " + o.Audience
	if known && m.Shape.AudienceFix != "" {
		fix = m.Shape.AudienceFixFor(audienceOr(o))
	}
	switch {
	case known && m.Shape.Unverifiable:
		return false, detail + ": a token for Microsoft Graph", "this is a Microsoft Graph token; only Graph can validate it: request a token for " + audienceOr(o) + "/.default"
	case r.Kind == KindIDToken && !r.kindOK():
		return false, detail + ": an ID token's audience is the client it was issued to", r.idTokenFix(m, known, o)
	case known && m.Shape.ID == "entra_v2" && strings.Contains(o.Audience, "://"):
		return false, detail + ": Entra ID v2.0 tokens carry the API's client id (a GUID) as aud, not its Application ID URI", "accept the API's client id as audience, or " + fix
	}
	return false, detail + ": a token for another resource", fix
}

func (r *Report) timeCheck() (bool, string, string) {
	if r.NotBefore != nil && r.now.Before(*r.NotBefore) {
		return false, fmt.Sprintf("not valid before %s (in %s)", r.NotBefore.Format(time.RFC3339), human(r.NotBefore.Sub(r.now))), "check the clocks of the issuer and this machine, or wait"
	}
	switch {
	case r.ExpiresAt == nil:
		return false, "the token has no exp: validators that follow RFC 9068 require one", "get a token with an expiry from its issuer"
	case r.Expired:
		return false, fmt.Sprintf("expired at %s, %s ago", r.ExpiresAt.Format(time.RFC3339), human(r.now.Sub(*r.ExpiresAt))), "get a new token (or refresh it before it expires)"
	}
	return true, fmt.Sprintf("expires at %s, in %s", r.ExpiresAt.Format(time.RFC3339), human(r.ExpiresAt.Sub(r.now))), ""
}

func quoteList(xs []string) string {
	if len(xs) == 0 {
		return "no audience"
	}
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// human is a duration in days, hours, minutes and seconds, its two largest
// units only: "3d4h", "59m30s", "12s".
func human(d time.Duration) string {
	d = d.Round(time.Second)
	units := []struct {
		n    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	var out string
	shown := 0
	for _, u := range units {
		if q := d / u.n; q > 0 || (shown > 0 && shown < 2) {
			if q > 0 {
				out += fmt.Sprintf("%d%s", q, u.name)
			}
			d -= q * u.n
			shown++
		}
		if shown == 2 {
			break
		}
	}
	if out == "" {
		return "0s"
	}
	return out
}
