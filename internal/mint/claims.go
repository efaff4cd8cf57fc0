package mint

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tokex/tokex/internal/jsonenc"
	"github.com/tokex/tokex/internal/keys"
)

// encode is the JSON claims set of one token: the claims of its kind, then
// the rule's mapped claims.
func (m *Minter) encode(in Input, now, exp time.Time, jti string) ([]byte, error) {
	var body []byte
	switch in.Kind {
	case keys.TypTxnToken:
		return json.Marshal(m.txnClaims(in, now, exp, jti))
	case keys.TypIDJAG:
		b, err := json.Marshal(idJAGClaims{Iss: m.issuer, Sub: in.Subject, Aud: in.Audience, ClientID: in.ClientID, Jti: jti,
			Exp: exp.Unix(), Iat: now.Unix(), Scope: strings.Join(in.Scopes, " "), Cnf: in.Cnf})
		if err != nil {
			return nil, fmt.Errorf("mint: encode claims: %w", err)
		}
		body = b
	default:
		body = m.accessClaims(in, now, exp, jti)
	}
	if len(in.Extra) == 0 {
		return body, nil
	}
	extra, err := json.Marshal(in.Extra)
	if err != nil {
		return nil, fmt.Errorf("mint: encode mapped claims: %w", err)
	}
	// Splice {"iss":...} and {"k":...} into one object; mapped names never
	// collide with the fixed ones (config.ReservedClaims).
	out := make([]byte, 0, len(body)+len(extra))
	out = append(out, body[:len(body)-1]...)
	out = append(out, ',')
	return append(out, extra[1:]...), nil
}

// txnClaims are a Txn-Token's (draft-ietf-oauth-transaction-tokens-10):
// req_wl is a string for the first requesting workload and the list of all
// of them once a replacement has added one.
type txnClaims struct {
	Iss   string         `json:"iss"`
	Iat   int64          `json:"iat"`
	Exp   int64          `json:"exp"`
	Aud   string         `json:"aud"`
	Txn   string         `json:"txn"`
	Sub   string         `json:"sub"`
	Scope string         `json:"scope"`
	ReqWL any            `json:"req_wl"`
	Tctx  map[string]any `json:"tctx,omitempty"`
	Rctx  map[string]any `json:"rctx,omitempty"`
	Jti   string         `json:"jti"`
}

func (m *Minter) txnClaims(in Input, now, exp time.Time, jti string) txnClaims {
	var wl any = in.ReqWL
	if len(in.ReqWL) == 1 {
		wl = in.ReqWL[0]
	}
	return txnClaims{Iss: m.issuer, Iat: now.Unix(), Exp: exp.Unix(), Aud: in.Audience, Txn: in.Txn, Sub: in.Subject,
		Scope: strings.Join(in.Scopes, " "), ReqWL: wl, Tctx: in.Tctx, Rctx: in.Rctx, Jti: jti}
}

// idJAGClaims are an ID-JAG's required claims
// (draft-ietf-oauth-identity-assertion-authz-grant-04); the optional ones
// carried from the ID token come as Extra.
type idJAGClaims struct {
	Iss      string `json:"iss"`
	Sub      string `json:"sub"`
	Aud      string `json:"aud"`
	ClientID string `json:"client_id"`
	Jti      string `json:"jti"`
	Exp      int64  `json:"exp"`
	Iat      int64  `json:"iat"`
	Scope    string `json:"scope,omitempty"`
	Cnf      *Cnf   `json:"cnf,omitempty"`
}

// accessClaims are an access token's (RFC 9068 §2.2).
func (m *Minter) accessClaims(in Input, now, exp time.Time, jti string) []byte {
	return claims{
		Iss: m.issuer, Sub: in.Subject, Aud: in.Audience,
		Exp: exp.Unix(), Iat: now.Unix(), Nbf: now.Unix(),
		Jti: jti, ClientID: in.ClientID, Scope: strings.Join(in.Scopes, " "), Act: in.Act, Cnf: in.Cnf,
	}.appendJSON(make([]byte, 0, 320))
}

// appendJSON appends c as encoding/json writes it (TestClaimsJSON holds the
// two equal), without its reflection: this runs on every exchange.
func (c claims) appendJSON(b []byte) []byte {
	b = append(b, '{')
	for _, f := range [...]struct {
		name string
		s    string
		n    int64
		num  bool
	}{{"iss", c.Iss, 0, false}, {"sub", c.Sub, 0, false}, {"aud", c.Aud, 0, false},
		{"exp", "", c.Exp, true}, {"iat", "", c.Iat, true}, {"nbf", "", c.Nbf, true},
		{"jti", c.Jti, 0, false}, {"client_id", c.ClientID, 0, false}, {"scope", c.Scope, 0, false}} {
		b = jsonenc.Member(b, f.name)
		if f.num {
			b = jsonenc.Int(b, f.n)
		} else {
			b = jsonenc.String(b, f.s)
		}
	}
	if c.Act != nil {
		b = c.Act.appendJSON(jsonenc.Member(b, "act"))
	}
	if c.Cnf != nil {
		b = append(jsonenc.Member(b, "cnf"), '{')
		if c.Cnf.JKT != "" {
			b = jsonenc.String(jsonenc.Member(b, "jkt"), c.Cnf.JKT)
		}
		if c.Cnf.X5T != "" {
			b = jsonenc.String(jsonenc.Member(b, "x5t#S256"), c.Cnf.X5T)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

func (a *Act) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = jsonenc.String(jsonenc.Member(b, "sub"), a.Sub)
	if a.Iss != "" {
		b = jsonenc.String(jsonenc.Member(b, "iss"), a.Iss)
	}
	if a.Act != nil {
		b = a.Act.appendJSON(jsonenc.Member(b, "act"))
	}
	return append(b, '}')
}

// Preview is the claims set Mint would sign for in now, with jti left as a
// placeholder: what `tokex explain` shows. Nothing is signed.
func (m *Minter) Preview(in Input) (map[string]any, error) {
	now := m.now().Truncate(time.Second)
	body, err := m.encode(in, now, in.Expiry.Truncate(time.Second), "<random>")
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("mint: preview: %w", err)
	}
	return out, nil
}
