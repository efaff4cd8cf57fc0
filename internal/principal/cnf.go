package principal

import (
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tokex/tokex/internal/jws"
)

// Confirmation is a token's cnf claim (RFC 7800 §3.1): the key its holder
// must prove. tokex carries two methods through an exchange, jkt (RFC 9449
// §6.1) and x5t#S256 (RFC 8705 §3.1); any other method is named in Other, so
// that a binding tokex cannot carry is refused instead of dropped.
type Confirmation struct {
	JKT   string
	X5T   string // x5t#S256
	Other []string
}

// Bound reports whether the token is sender-constrained in any way.
func (c Confirmation) Bound() bool { return c.JKT != "" || c.X5T != "" || len(c.Other) > 0 }

var errCnf = &jws.ClaimError{Claim: "cnf", Msg: "must be an object whose jkt and x5t#S256 members are non-empty strings (RFC 7800 §3.1)"}

// UnmarshalJSONFrom implements json v2's UnmarshalerFrom; null is absent.
func (c *Confirmation) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*c = Confirmation{}
	switch dec.PeekKind() {
	case 'n':
		_, err := dec.ReadToken()
		return err
	case '{':
	default:
		return errCnf
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return err
		}
		switch n := name.String(); n {
		case "jkt", "x5t#S256":
			if dec.PeekKind() != '"' {
				return errCnf
			}
			v, err := dec.ReadToken()
			if err != nil {
				return err
			}
			if v.String() == "" {
				return errCnf
			}
			if n == "jkt" {
				c.JKT = v.String()
			} else {
				c.X5T = v.String()
			}
		default:
			if err := dec.SkipValue(); err != nil {
				return err
			}
			c.Other = append(c.Other, jws.Clip(n))
		}
	}
	_, err := dec.ReadToken()
	return err
}
