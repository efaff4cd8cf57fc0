package inspect

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/tokex/tokex/internal/jws"
)

// segment decodes one JWS segment strictly (internal/jws) and, when that
// fails, leniently (padding, the standard alphabet, whitespace), so that a
// token a strict validator refuses is still described. problem says what
// the strict reader refused, "" when it took the segment.
func segment(s string) (b []byte, problem string, ok bool) {
	if b, err := jws.DecodeSegment(s); err == nil {
		return b, "", true
	}
	t := strings.Map(func(r rune) rune {
		switch r {
		case '+':
			return '-'
		case '/':
			return '_'
		case ' ', '\t', '\r', '\n', '=':
			return -1
		}
		return r
	}, s)
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return nil, "not base64url", false
	}
	return b, "not unpadded base64url as RFC 7515 §2 requires", true
}

// object decodes a JSON object strictly (json v2: no duplicate names, valid
// UTF-8) and, when that fails, leniently (encoding/json).
func object(b []byte) (m map[string]any, problem string, ok bool) {
	if err := jsonv2.Unmarshal(b, &m); err == nil && m != nil {
		return m, "", true
	} else if err != nil {
		problem = "not strictly valid JSON (" + err.Error() + ")"
	}
	m = nil
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, "not a JSON object", false
	}
	if problem == "" {
		problem = "not a JSON object"
	}
	return m, problem, true
}
