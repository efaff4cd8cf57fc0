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
	TooMany Kind = iota + 1 // more than MaxTokens values
	BadChar                 // a byte outside the scope-token grammar
)

// Error is a refused scope string; Description is safe for clients.
type Error struct {
	Kind        Kind
	Description string
}

func (e *Error) Error() string { return e.Description }

// Parse splits a scope parameter into its tokens (RFC 6749 §3.3). "" (and
// spaces only) is no scope: SPEC §5 treats an empty parameter as absent.
// The grammar wants one %x20 between tokens; runs of spaces (leading,
// trailing, doubled) are tolerated as one, since clients that join scope
// strings produce them and they cannot be read two ways. Any other separator
// (TAB, NBSP) or byte outside the grammar is refused. A token given twice
// counts once.
func Parse(s string) ([]string, error) {
	// Only a string of at least MaxTokens spaces can hold too many values:
	// counting them (vectorised) keeps the common case to one pass, and a
	// long request is refused before anything is split or compared.
	spaces := strings.Count(s, " ")
	if spaces >= MaxTokens && moreFields(s, MaxTokens) {
		return nil, &Error{Kind: TooMany, Description: fmt.Sprintf("scope has more than %d values; at most %d are accepted", MaxTokens, MaxTokens)}
	}
	out := make([]string, 0, min(spaces+1, MaxTokens))
	var seen map[string]struct{} // only for long lists: a short one is scanned
	if spaces >= 16 {
		seen = make(map[string]struct{}, min(spaces+1, MaxTokens))
	}
	for tok := range strings.SplitSeq(s, " ") {
		if tok == "" {
			continue
		}
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
func Valid(tok string) bool { return tok != "" && check(tok) == nil }

func check(tok string) error {
	for i := 0; i < len(tok); i++ {
		if !tokenByte(tok[i]) {
			return &Error{Kind: BadChar, Description: fmt.Sprintf("scope holds byte 0x%02X, which is not allowed in a scope value: use printable ASCII except '\"' and '\\', separated by spaces (RFC 6749 §3.3)", tok[i])}
		}
	}
	return nil
}

// moreFields reports whether s has more than max space-separated values; it
// stops reading at the first value past max.
func moreFields(s string, max int) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && (i == 0 || s[i-1] == ' ') {
			if n++; n > max {
				return true
			}
		}
	}
	return false
}

// tokenByte: %x21 / %x23-5B / %x5D-7E.
func tokenByte(c byte) bool { return c >= 0x21 && c <= 0x7E && c != '"' && c != '\\' }
