package mint

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tokex/tokex/internal/jsonenc"
)

// encode is the JSON claims set of one token: the RFC 9068 claims, then the
// rule's mapped claims.
func (m *Minter) encode(in Input, now, exp time.Time, jti string) ([]byte, error) {
	body := claims{
		Iss: m.issuer, Sub: in.Subject, Aud: in.Audience,
		Exp: exp.Unix(), Iat: now.Unix(), Nbf: now.Unix(),
		Jti: jti, ClientID: in.ClientID, Scope: strings.Join(in.Scopes, " "), Act: in.Act, Cnf: in.Cnf,
	}.appendJSON(make([]byte, 0, 320))
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
