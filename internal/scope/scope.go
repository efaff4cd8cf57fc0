package scope

import (
	"fmt"
	"slices"
	"strings"
)

// MaxTokens caps the scope tokens of one request. Real clients ask for a
// handful; the cap bounds the work a single request can cause.
const MaxTokens = 100

// Kind classifies a refused scope string.
type Kind int

// Refusal kinds; every one is invalid_scope (RFC 6749 §5.2).
const (
	TooMany    Kind = iota + 1 // more than MaxTokens tokens
	EmptyToken                 // two spaces in a row
	BadChar                    // a byte outside the scope-token grammar
)

// Error is a refused scope string; Description is safe for clients.
type Error struct {
	Kind        Kind
	Description string
}

func (e *Error) Error() string { return e.Description }

// Parse splits a scope parameter into its tokens (RFC 6749 §3.3). "" (and
// spaces only) is no scope: SPEC §5 treats an empty parameter as absent.
// Leading and trailing spaces are ignored, since some clients join scopes
// with a trailing separator; two spaces in a row, and any separator other
// than %x20 (TAB, NBSP), are refused. A token given twice counts once.
func Parse(s string) ([]string, error) {
	s = strings.Trim(s, " ")
	if s == "" {
		return nil, nil
	}
	// Counted before anything is split or compared: a request of many
	// tokens is refused at the cost of one pass.
	n := strings.Count(s, " ") + 1
	if n > MaxTokens {
		return nil, &Error{Kind: TooMany, Description: fmt.Sprintf("scope has %d values; at most %d are accepted", n, MaxTokens)}
	}
	out := make([]string, 0, n)
	var seen map[string]struct{} // only for long lists: a short one is scanned
	if n > 16 {
		seen = make(map[string]struct{}, n)
	}
	for tok := range strings.SplitSeq(s, " ") {
		if err := check(tok); err != nil {
			return nil, err
		}
		if seen != nil {
			if _, dup := seen[tok]; dup {
				continue
			}
			seen[tok] = struct{}{}
		} else if slices.Contains(out, tok) {
			continue
		}
		out = append(out, tok)
	}
	return out, nil
}

// Valid reports whether tok is one scope-token (RFC 6749 §3.3).
func Valid(tok string) bool { return check(tok) == nil }

func check(tok string) error {
	if tok == "" {
		return &Error{Kind: EmptyToken, Description: "scope values must be separated by a single space (RFC 6749 §3.3)"}
	}
	for i := 0; i < len(tok); i++ {
		if !tokenByte(tok[i]) {
			return &Error{Kind: BadChar, Description: fmt.Sprintf("scope holds byte 0x%02X, which is not allowed in a scope value: use printable ASCII except '\"' and '\\', separated by single spaces (RFC 6749 §3.3)", tok[i])}
		}
	}
	return nil
}

// tokenByte: %x21 / %x23-5B / %x5D-7E.
func tokenByte(c byte) bool { return c >= 0x21 && c <= 0x7E && c != '"' && c != '\\' }
