package mint

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// encode is the JSON claims set of one token: the RFC 9068 claims, then the
// rule's mapped claims.
func (m *Minter) encode(in Input, now, exp time.Time, jti string) ([]byte, error) {
	body, err := json.Marshal(claims{
		Iss: m.issuer, Sub: in.Subject, Aud: in.Audience,
		Exp: exp.Unix(), Iat: now.Unix(), Nbf: now.Unix(),
		Jti: jti, ClientID: in.ClientID, Scope: strings.Join(in.Scopes, " "), Act: in.Act,
	})
	if err != nil {
		return nil, fmt.Errorf("mint: encode claims: %w", err)
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
