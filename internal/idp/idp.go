package idp

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/tokex/tokex/internal/jws"
)

// Shape is how one identity provider's tokens look. Every condition that is
// set must hold; the first shape of the table that matches wins, so the more
// specific come first.
type Shape struct {
	ID   string // stable name, for scripts: entra_v2, graph, cognito_id, ...
	Name string // for people

	// How to recognise it.
	Issuers   []string          // iss patterns, any of: {name} and * stand for one path segment or host label
	Audiences []string          // aud holds one of these
	Claims    []string          // claims that are present
	Values    map[string]string // string claims with these values
	SubPrefix string            // sub starts with this
	Typ       string            // header typ (case-insensitive, without application/)
	// SelfIssued: iss must be the issuer given to Recognise (tokex's own).
	SelfIssued bool

	// What to tell.
	Note        string            // shown with every token of the shape
	HeaderNotes map[string]string // header member -> what it means when present
	// AudienceFix says how to get a token for {audience} from this provider.
	AudienceFix string
	// Unverifiable: only the resource the token is for can check its
	// signature (Microsoft Graph); for anyone else it is the wrong token.
	Unverifiable bool
	// IDToken: the provider issues only ID tokens as JWTs (its access tokens
	// are opaque).
	IDToken bool
}

// graphNonceHeader is the header member Entra ID puts in Graph tokens (and
// hashes before signing).
const graphNonceHeader = "nonce"

// graphAudiences are Microsoft Graph's audiences: its URL and its application id.
var graphAudiences = []string{"https://graph.microsoft.com", "https://graph.microsoft.com/", "00000003-0000-0000-c000-000000000000"}

const entraFix = "request an access token for scope {audience}/.default (the Application ID URI of your API, e.g. api://YOUR-API/.default), not for Graph or for the client itself"

const k8sFix = "project a token with that audience: a serviceAccountToken volume with audience: {audience} (or kubectl create token NAME --audience {audience})"

// shapes is the table. Order matters: the first match wins.
var shapes = []Shape{
	{
		ID: "graph", Name: "Microsoft Graph access token (Entra ID)",
		Audiences: graphAudiences,
		Note:      "a token for Microsoft Graph: only Graph can validate it (Entra ID hashes a nonce header into its signature), so every other API sees an invalid signature",
		HeaderNotes: map[string]string{
			graphNonceHeader: "the header carries a nonce, as only Graph tokens do: no third party can verify this signature",
		},
		AudienceFix:  entraFix,
		Unverifiable: true,
	},
	{
		ID: "entra_v1", Name: "Microsoft Entra ID (v1.0 token)",
		Issuers:     []string{"https://sts.windows.net/{tenant}/"},
		Note:        "a v1.0 token: the API's app registration has accessTokenAcceptedVersion null or 1; set it to 2 in the app manifest for v2.0 tokens (iss https://login.microsoftonline.com/{tenant}/v2.0)",
		AudienceFix: entraFix,
	},
	{
		ID: "entra_v2", Name: "Microsoft Entra ID (v2.0 token)",
		Issuers:     []string{"https://login.microsoftonline.com/{tenant}/v2.0"},
		Note:        "a v2.0 token (accessTokenAcceptedVersion 2): aud is the API's client id",
		AudienceFix: entraFix,
	},
	{
		ID: "auth0", Name: "Auth0",
		Issuers:     []string{"https://{tenant}.auth0.com/"},
		Note:        "Auth0 issues a JWT access token only when the authorization request names an API (audience); iss ends with /",
		AudienceFix: "request the token with audience={audience} (the API identifier in the Auth0 dashboard)",
	},
	{
		ID: "okta", Name: "Okta (custom authorization server)",
		Issuers:     []string{"https://{org}.okta.com/oauth2/{server}", "https://{org}.oktapreview.com/oauth2/{server}"},
		AudienceFix: "request the token from the authorization server whose audience is {audience}",
	},
	{
		ID: "okta_org", Name: "Okta (org authorization server)",
		Issuers:     []string{"https://{org}.okta.com", "https://{org}.oktapreview.com"},
		Note:        "tokens of the org authorization server are for Okta's own APIs: only Okta can validate them; use a custom authorization server (https://{org}.okta.com/oauth2/default)",
		AudienceFix: "request the token from a custom authorization server whose audience is {audience}",
	},
	{
		ID: "cognito_id", Name: "AWS Cognito ID token",
		Issuers:     []string{"https://cognito-idp.{region}.amazonaws.com/{pool}"},
		Values:      map[string]string{"token_use": "id"},
		Note:        "the ID token of a Cognito sign-in: APIs take the access token of the same sign-in (token_use access)",
		AudienceFix: "send the access token of the same Cognito sign-in (its client_id is the app client)",
	},
	{
		ID: "cognito_access", Name: "AWS Cognito access token",
		Issuers:     []string{"https://cognito-idp.{region}.amazonaws.com/{pool}"},
		Note:        "Cognito access tokens have no aud: the app client is client_id",
		AudienceFix: "request the token with the app client {audience}",
	},
	{
		ID: "google", Name: "Google",
		Issuers:     []string{"https://accounts.google.com", "accounts.google.com"},
		Note:        "Google's access tokens are opaque (ya29.…); its JWTs are ID tokens, sent to APIs that take them with a custom audience",
		AudienceFix: "request an ID token with that audience: gcloud auth print-identity-token --audiences={audience}, or the metadata server's identity?audience={audience}",
		IDToken:     true,
	},
	{
		ID: "github_actions", Name: "GitHub Actions OIDC",
		Issuers:     []string{"https://token.actions.githubusercontent.com", "https://token.actions.githubusercontent.com/{enterprise}"},
		AudienceFix: "request the token with audience {audience}: core.getIDToken('{audience}'), or &audience= on ACTIONS_ID_TOKEN_REQUEST_URL (needs permissions: id-token: write)",
	},
	{
		ID: "kubernetes", Name: "Kubernetes service account",
		Claims:      []string{"kubernetes.io"},
		AudienceFix: k8sFix,
	},
	{
		ID: "kubernetes", Name: "Kubernetes service account",
		Issuers:     []string{"https://kubernetes.default.svc", "https://kubernetes.default.svc.cluster.local", "kubernetes/serviceaccount"},
		AudienceFix: k8sFix,
	},
	{
		ID: "kubernetes", Name: "Kubernetes service account",
		SubPrefix:   "system:serviceaccount:",
		AudienceFix: k8sFix,
	},
	{
		ID: "tokex", Name: "tokex",
		Typ: "at+jwt", Claims: []string{"client_id"}, SelfIssued: true,
		Note:        "minted by this tokex: verify it with the JWKS at the issuer's /.well-known/jwks.json",
		AudienceFix: "exchange for a token with audience={audience} (a rule for that audience must exist)",
	},
}

// compiled holds the shapes' issuer patterns as regular expressions, by
// table index; built once from the table, never written after.
var compiled = func() [][]*regexp.Regexp {
	out := make([][]*regexp.Regexp, len(shapes))
	param := regexp.MustCompile(`\\\{(\w+)\\\}`)
	for i, s := range shapes {
		for _, p := range s.Issuers {
			q := regexp.QuoteMeta(p)
			q = param.ReplaceAllString(q, `(?P<$1>[^/]+?)`)
			q = strings.ReplaceAll(q, `\*`, `[^/]+`)
			out[i] = append(out[i], regexp.MustCompile("^"+q+"$"))
		}
	}
	return out
}()

// Shapes is a copy of the table, for documentation and tests.
func Shapes() []Shape { return slices.Clone(shapes) }

// Token is what the recognisers read of a token: its header and claims as
// decoded JSON (map[string]any).
type Token struct {
	Header map[string]any
	Claims map[string]any
}

func (t Token) claimString(name string) string {
	s, _ := t.Claims[name].(string)
	return s
}

// Audience is aud as a list; a value of another type is no audience.
func (t Token) Audience() []string { return Strings(t.Claims["aud"]) }

// Strings is a decoded JSON claim that is a string or an array of strings
// (aud, roles, groups), as a list; members that are not strings are left out.
func Strings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Typ is the header typ, lower case, without application/.
func (t Token) Typ() string {
	s, _ := t.Header["typ"].(string)
	return strings.TrimPrefix(strings.ToLower(s), "application/")
}

// Match is a recognised shape and what its issuer pattern captured
// (tenant, region, pool, ...).
type Match struct {
	Shape  Shape
	Params map[string]string
}

// Recognise finds the first shape tok matches; self is tokex's own issuer
// (may be ""). ok is false for a token of no known shape.
func Recognise(tok Token, self string) (m Match, ok bool) {
	iss := tok.claimString("iss")
	for i, s := range shapes {
		params, ok := matchIssuer(compiled[i], iss)
		if !ok || !s.matches(tok, iss, self) {
			continue
		}
		return Match{Shape: s, Params: params}, true
	}
	return Match{}, false
}

func matchIssuer(res []*regexp.Regexp, iss string) (map[string]string, bool) {
	if len(res) == 0 {
		return nil, true
	}
	for _, re := range res {
		if sub := re.FindStringSubmatch(iss); sub != nil {
			params := map[string]string{}
			for j, n := range re.SubexpNames() {
				if n != "" {
					params[n] = sub[j]
				}
			}
			return params, true
		}
	}
	return nil, false
}

func (s *Shape) matches(tok Token, iss, self string) bool {
	if len(s.Audiences) > 0 && !anyOf(tok.Audience(), s.Audiences) {
		return false
	}
	for _, c := range s.Claims {
		if _, ok := tok.Claims[c]; !ok {
			return false
		}
	}
	for c, v := range s.Values {
		if tok.claimString(c) != v {
			return false
		}
	}
	if s.SubPrefix != "" && !strings.HasPrefix(tok.claimString("sub"), s.SubPrefix) {
		return false
	}
	if s.Typ != "" && tok.Typ() != s.Typ {
		return false
	}
	if s.SelfIssued && (self == "" || iss != self) {
		return false
	}
	return true
}

// anyOf reports whether aud holds one of audiences.
func anyOf(aud, audiences []string) bool {
	return slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(audiences, a) })
}

// GraphToken reports whether a token of audience aud is addressed to
// Microsoft Graph: only Graph can validate such a token (Entra ID hashes a
// nonce header into its signature), so it is the wrong token, not a forged one.
func GraphToken(aud []string) bool { return anyOf(aud, graphAudiences) }

// AudienceFixFor is the shape's advice for getting a token for audience.
func (s *Shape) AudienceFixFor(audience string) string {
	return strings.ReplaceAll(s.AudienceFix, "{audience}", audience)
}

// GraphHeader reports whether a JOSE header carries the nonce Entra ID puts
// in Microsoft Graph tokens: a token whose signature only Graph can check.
func GraphHeader(header map[string]any) bool {
	_, ok := header[graphNonceHeader]
	return ok
}

// IDTokenClaims are the claims that tell an OpenID Connect ID token.
type IDTokenClaims struct {
	TokenUse string   // token_use (AWS Cognito)
	Nonce    bool     // nonce is present
	AtHash   bool     // at_hash is present
	Azp      string   // azp
	Audience []string // aud
}

// IDTokenTell says why a token looks like an OpenID Connect ID token, or ""
// when it does not. accepted are the audiences the receiver takes: an aud
// that is one of them is never a tell.
func IDTokenTell(c IDTokenClaims, accepted []string) string {
	switch {
	case c.TokenUse == "id":
		return "token_use is id"
	case c.Nonce:
		return "it carries a nonce claim"
	case c.AtHash:
		return "it carries an at_hash claim"
	}
	// An ID token's aud is the client it was issued to (OIDC Core §2).
	azp := c.Azp
	if azp != "" && len(c.Audience) == 1 && c.Audience[0] == azp && !slices.Contains(accepted, azp) {
		return fmt.Sprintf("its audience is the client id %q", jws.Clip(azp))
	}
	return ""
}

// Expand replaces {name} in s with what the issuer pattern captured.
func (m Match) Expand(s string) string {
	for k, v := range m.Params {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// OpaqueHint is a provider's opaque (non-JWT) token format, by its prefix.
type OpaqueHint struct {
	Prefix, Name, Note string
}

var opaqueHints = []OpaqueHint{
	{Prefix: "ya29.", Name: "Google OAuth access token", Note: "Google's access tokens are opaque, for Google APIs only: for your own API send a Google ID token with its audience (gcloud auth print-identity-token --audiences=...)"},
	{Prefix: "ghp_", Name: "GitHub personal access token", Note: "a GitHub API credential: for your own API use a GitHub Actions OIDC token (permissions: id-token: write)"},
	{Prefix: "ghs_", Name: "GitHub App installation token", Note: "a GitHub API credential: for your own API use a GitHub Actions OIDC token (permissions: id-token: write)"},
	{Prefix: "gho_", Name: "GitHub OAuth access token", Note: "a GitHub API credential, not a JWT your API can validate"},
}

// Opaque finds the provider of an opaque token by its prefix.
func Opaque(raw string) (OpaqueHint, bool) {
	for _, h := range opaqueHints {
		if strings.HasPrefix(raw, h.Prefix) {
			return h, true
		}
	}
	return OpaqueHint{}, false
}
