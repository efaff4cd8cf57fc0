package inspect

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tokex/tokex/internal/idp"
	"github.com/tokex/tokex/internal/jws"
)

// Kinds of token.
const (
	KindAccessToken = "access_token" // RFC 9068 (typ at+jwt) or by its claims
	KindIDToken     = "id_token"     // OpenID Connect ID token
	KindJWT         = "jwt"          // a JWT of no profile tokex recognises
	KindTxnToken    = "txn_token"    // Transaction Token (typ txntoken+jwt)
	KindIDJAG       = "id_jag"       // Identity Assertion JWT Authorization Grant (typ oauth-id-jag+jwt)
	KindDPoPProof   = "dpop_proof"   // RFC 9449 DPoP proof (typ dpop+jwt)
	KindJWE         = "jwe"          // encrypted: five segments
	KindOpaque      = "opaque"       // not a JWT
)

// Verdicts.
const (
	Accepted   = "accepted"    // no check failed
	Refused    = "refused"     // a check failed
	NotAToken  = "not_a_token" // not a JWT: nothing to check
	checkKind  = "kind"
	checkForm  = "format"
	checkSig   = "signature"
	checkIss   = "issuer"
	checkAud   = "audience"
	checkTime  = "expiry"
	yourAPI    = "api://YOUR-API"
	maxTextLen = 128
)

// Options are what the API expects, and how to check.
type Options struct {
	Issuer   string // the iss the API expects (--issuer); "" not checked
	Audience string // the aud the API expects (--audience); "" not checked
	Verify   bool   // fetch the issuer's keys and check the signature
	// HTTPClient fetches metadata and keys with Verify; nil: a client with a
	// 10s timeout that follows no redirects.
	HTTPClient *http.Client
	Now        func() time.Time // nil: time.Now
}

// Report is what Inspect found. Its JSON is stable, for scripts.
type Report struct {
	Kind           string            `json:"kind"`
	KindDetail     string            `json:"kind_detail,omitempty"`
	IdP            string            `json:"idp,omitempty"` // idp shape ID
	IdPName        string            `json:"idp_name,omitempty"`
	IdPParams      map[string]string `json:"idp_params,omitempty"` // tenant, region, pool, ...
	Issuer         string            `json:"issuer,omitempty"`
	Audience       []string          `json:"audience,omitempty"`
	Subject        string            `json:"subject,omitempty"`
	ClientID       string            `json:"client_id,omitempty"`
	Scopes         []string          `json:"scopes,omitempty"`
	Roles          []string          `json:"roles,omitempty"`
	Groups         []string          `json:"groups,omitempty"`
	IssuedAt       *time.Time        `json:"issued_at,omitempty"`
	NotBefore      *time.Time        `json:"not_before,omitempty"`
	ExpiresAt      *time.Time        `json:"expires_at,omitempty"`
	Expired        bool              `json:"expired"`
	Alg            string            `json:"alg,omitempty"`
	Kid            string            `json:"kid,omitempty"`
	Typ            string            `json:"typ,omitempty"`
	SignatureBytes int               `json:"signature_bytes"`
	Binding        *Binding          `json:"binding,omitempty"`
	ActorChain     []Actor           `json:"actor_chain,omitempty"`
	Malformed      []string          `json:"malformed,omitempty"`
	Notes          []string          `json:"notes,omitempty"`
	Checks         []Check           `json:"checks"`
	NotChecked     []string          `json:"not_checked,omitempty"` // check names: signature (without Verify), issuer, audience
	Verdict        string            `json:"verdict"`

	now    time.Time
	match  idp.Match // the recognised shape, when known
	known  bool
	idTell string // why it is an ID token that no API should take (idp.IDTokenTell)
}

// Check is one check an API would run.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
	Fix    string `json:"fix,omitempty"`
}

// Binding is the token's sender constraint (RFC 7800 cnf).
type Binding struct {
	Method     string `json:"method"`     // dpop (cnf.jkt, RFC 9449) or mtls (cnf.x5t#S256, RFC 8705)
	Thumbprint string `json:"thumbprint"` // the key's or certificate's
}

// Actor is one link of a delegation chain (RFC 8693 §4.1 act), the current
// actor first.
type Actor struct {
	Subject  string `json:"subject,omitempty"`
	Issuer   string `json:"issuer,omitempty"`
	ClientID string `json:"client_id,omitempty"`
}

// ExitCode is `tokex inspect`'s exit status: 0 accepted, 1 refused, 2 not a token.
func (r *Report) ExitCode() int {
	switch r.Verdict {
	case Accepted:
		return 0
	case Refused:
		return 1
	}
	return 2
}

// Inspect describes raw. It never returns raw or any part of it but the
// decoded header and claims.
func Inspect(ctx context.Context, raw string, o Options) *Report {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	r := &Report{now: now().UTC().Truncate(time.Second), Checks: []Check{}}
	raw = strings.TrimSpace(raw)
	parts := strings.Split(raw, ".")
	switch len(parts) {
	case 3:
	case 5:
		r.jwe(parts[0])
		return r
	default:
		r.opaque(raw, "")
		return r
	}
	hb, problem, ok := segment(parts[0])
	if !ok {
		r.opaque(raw, "its first segment is "+problem)
		return r
	}
	header, hp, ok := object(hb)
	if !ok {
		r.opaque(raw, "its first segment is "+hp)
		return r
	}
	r.malformed("header", problem, hp)
	var claims map[string]any
	cb, problem, ok := segment(parts[1])
	if ok {
		var cp string
		claims, cp, ok = object(cb)
		r.malformed("claims", problem, cp)
		if ok && cp == "" {
			// The registered claims of the right types (RFC 7519 §4.1), as
			// tokex reads them.
			var reg jws.Registered
			if err := jws.DecodeClaims(cb, &reg); err != nil {
				if ce, isCE := jws.AsClaimError(err); isCE {
					r.malformed("claims", "", ce.Error())
				} else {
					r.malformed("claims", "", "registered claims of the wrong type ("+err.Error()+")")
				}
			}
			for _, d := range []struct {
				name string
				n    *jws.NumericDate
			}{{"exp", &reg.ExpiresAt}, {"nbf", &reg.NotBefore}, {"iat", &reg.IssuedAt}} {
				if d.n.Present() && !d.n.Set() {
					r.malformed("claims", "", d.name+" is not a NumericDate (RFC 7519 §2)")
				}
			}
		}
	}
	if !ok {
		r.malformed("claims", problem, "could not be decoded")
	}
	if sig, sp, ok := segment(parts[2]); ok {
		r.SignatureBytes = len(sig)
		r.malformed("signature", sp, "")
	} else {
		r.malformed("signature", sp, "")
	}
	r.describe(header, claims, o)
	r.check(ctx, raw, header, o)
	return r
}

func (r *Report) malformed(where string, problems ...string) {
	for _, p := range problems {
		if p != "" {
			r.Malformed = append(r.Malformed, where+": "+p)
		}
	}
}

// opaque: not a JWT.
func (r *Report) opaque(raw, why string) {
	r.Kind, r.Verdict = KindOpaque, NotAToken
	r.KindDetail = fmt.Sprintf("not a JWT: %d characters", len(raw))
	if why != "" {
		r.Malformed = append(r.Malformed, why)
	}
	if h, ok := idp.Opaque(raw); ok {
		r.IdPName = h.Name
		r.Notes = append(r.Notes, h.Note)
	}
	r.Notes = append(r.Notes, "an opaque token can be read only by its issuer (token introspection, RFC 7662); an API that validates JWTs refuses it")
}

// jwe: encrypted; only the header can be read.
func (r *Report) jwe(seg string) {
	r.Kind, r.Verdict = KindJWE, Refused
	r.KindDetail = "encrypted, five segments"
	if b, _, ok := segment(seg); ok {
		if h, _, ok := object(b); ok {
			r.Alg, r.Kid, r.Typ = str(h["alg"]), str(h["kid"]), str(h["typ"])
			if enc := str(h["enc"]); enc != "" {
				r.KindDetail += ", enc " + clip(enc)
			}
		}
	}
	r.Checks = append(r.Checks, Check{Name: checkKind, Detail: "the token is encrypted: only the holder of the decryption key can read its claims",
		Fix: "an API that validates signed JWTs cannot read it: turn off token encryption for this API at the IdP, or decrypt it first"})
}

// describe fills in what the token says.
func (r *Report) describe(header, claims map[string]any, o Options) {
	r.Alg, r.Kid, r.Typ = clip(str(header["alg"])), clip(str(header["kid"])), clip(str(header["typ"]))
	tok := idp.Token{Header: header, Claims: claims}
	r.Issuer, r.Subject = clip(str(claims["iss"])), clip(str(claims["sub"]))
	r.Audience = clipAll(tok.Audience())
	for _, c := range []string{"client_id", "azp", "appid", "cid"} {
		if s := str(claims[c]); s != "" {
			r.ClientID = clip(s)
			break
		}
	}
	r.Scopes = clipAll(append(words(claims["scope"]), words(claims["scp"])...))
	r.Roles = clipAll(append(idp.Strings(claims["roles"]), idp.Strings(claims["permissions"])...))
	r.Groups = clipAll(append(idp.Strings(claims["groups"]), idp.Strings(claims["cognito:groups"])...))
	r.IssuedAt, r.NotBefore, r.ExpiresAt = date(claims["iat"]), date(claims["nbf"]), date(claims["exp"])
	r.Expired = r.ExpiresAt != nil && !r.now.Before(*r.ExpiresAt)
	if cnf, ok := claims["cnf"].(map[string]any); ok {
		if j := str(cnf["jkt"]); j != "" {
			r.Binding = &Binding{Method: "dpop", Thumbprint: clip(j)}
		} else if x := str(cnf["x5t#S256"]); x != "" {
			r.Binding = &Binding{Method: "mtls", Thumbprint: clip(x)}
		}
	}
	act, _ := claims["act"].(map[string]any)
	for depth := 0; act != nil && depth < 16; depth++ {
		r.ActorChain = append(r.ActorChain, Actor{Subject: clip(str(act["sub"])), Issuer: clip(str(act["iss"])), ClientID: clip(str(act["client_id"]))})
		act, _ = act["act"].(map[string]any)
	}

	m, known := idp.Recognise(tok, o.Issuer)
	r.match, r.known = m, known
	if known {
		for k, v := range m.Params {
			m.Params[k] = clip(v)
		}
		r.IdP, r.IdPName, r.IdPParams = m.Shape.ID, m.Shape.Name, m.Params
		if m.Shape.Note != "" {
			r.Notes = append(r.Notes, m.Expand(m.Shape.Note))
		}
		for _, h := range slices.Sorted(maps.Keys(m.Shape.HeaderNotes)) {
			if _, ok := header[h]; ok {
				r.Notes = append(r.Notes, m.Shape.HeaderNotes[h])
			}
		}
	}
	r.idTell = idTokenTell(tok, o)
	r.Kind, r.KindDetail = kindOf(tok, m, known, r.idTell)
}

// kindOf classifies the token by its typ header, then by its claims.
func kindOf(tok idp.Token, m idp.Match, known bool, tell string) (kind, detail string) {
	switch tok.Typ() {
	case "dpop+jwt":
		return KindDPoPProof, "typ dpop+jwt (RFC 9449)"
	case "txntoken+jwt":
		return KindTxnToken, "typ txntoken+jwt"
	case "oauth-id-jag+jwt":
		return KindIDJAG, "typ oauth-id-jag+jwt"
	case "at+jwt":
		return KindAccessToken, "typ at+jwt (RFC 9068)"
	}
	if tell != "" {
		return KindIDToken, tell
	}
	if known && m.Shape.IDToken {
		return KindIDToken, m.Shape.Name + " issues only ID tokens as JWTs"
	}
	if str(tok.Claims["token_use"]) == "access" {
		return KindAccessToken, "token_use is access"
	}
	for _, c := range []string{"scp", "scope", "roles", "client_id", "cid", "appid"} {
		if _, ok := tok.Claims[c]; ok {
			return KindAccessToken, "it carries a " + c + " claim"
		}
	}
	return KindJWT, "no typ at+jwt and no access token claims"
}

func idTokenTell(tok idp.Token, o Options) string {
	_, nonce := tok.Claims["nonce"]
	_, atHash := tok.Claims["at_hash"]
	var accepted []string
	if o.Audience != "" {
		accepted = []string{o.Audience}
	}
	return idp.IDTokenTell(idp.IDTokenClaims{
		TokenUse: str(tok.Claims["token_use"]), Nonce: nonce && tok.Claims["nonce"] != nil, AtHash: atHash && tok.Claims["at_hash"] != nil,
		Azp: str(tok.Claims["azp"]), Audience: tok.Audience(),
	}, accepted)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// words is a space-delimited string claim (scope, RFC 8693 §4.2) or an array.
func words(v any) []string {
	if s, ok := v.(string); ok {
		return strings.Fields(s)
	}
	return idp.Strings(v)
}

func date(v any) *time.Time {
	f, ok := v.(float64)
	if !ok || f < -62135596800 || f > 253402300799 {
		return nil
	}
	t := time.Unix(int64(f), 0).UTC()
	return &t
}

// clip bounds token text in a report, and replaces what a terminal would
// act on (control characters, escape sequences) and invalid UTF-8.
func clip(s string) string {
	if len(s) > maxTextLen {
		s = s[:maxTextLen] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsGraphic(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

func clipAll(xs []string) []string {
	for i := range xs {
		xs[i] = clip(xs[i])
	}
	return xs
}
