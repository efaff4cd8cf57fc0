package jws

import (
	"encoding/base64"
	"errors"
	"strings"
)

// enc is base64url without padding that also refuses non-zero trailing bits,
// so one token has one spelling.
var enc = base64.RawURLEncoding.Strict()

// ErrSegment is a segment that is not base64url as RFC 7515 §2 defines it.
var ErrSegment = errors.New("a segment is not unpadded base64url (RFC 7515 §2)")

// ErrNotCompact is text that is not three segments separated by dots.
var ErrNotCompact = errors.New("not a JWS compact serialization: expected three base64url segments separated by dots")

// ErrEncrypted is a JWE compact serialization (five segments).
var ErrEncrypted = errors.New("the token is encrypted (JWE); send a signed JWT (JWS)")

// alphabet[c] is true for the bytes of the URL-safe alphabet (RFC 4648 §5).
var alphabet = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = true
	}
	return t
}()

// valid reports whether s holds only the URL-safe alphabet: Go's decoder
// skips CR and LF, which would give one token endless spellings.
func valid(s string) bool {
	for i := 0; i < len(s); i++ {
		if !alphabet[s[i]] {
			return false
		}
	}
	return true
}

// DecodedLen is the most bytes a segment of n characters decodes to.
func DecodedLen(n int) int { return enc.DecodedLen(n) }

// DecodeSegment decodes one segment.
func DecodeSegment(s string) ([]byte, error) {
	b := make([]byte, enc.DecodedLen(len(s)))
	n, err := DecodeSegmentInto(b, s)
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}

// DecodeSegmentInto decodes s into dst, which holds DecodedLen(len(s)) bytes.
func DecodeSegmentInto(dst []byte, s string) (int, error) {
	if !valid(s) {
		return 0, ErrSegment
	}
	n, err := enc.Decode(dst, []byte(s))
	if err != nil {
		return 0, ErrSegment
	}
	return n, nil
}

// Split cuts a compact serialization (RFC 7515 §7.1) into its segments.
func Split(raw string) (parts [3]string, err error) {
	if n := strings.Count(raw, "."); n != 2 {
		if n == 4 {
			return parts, ErrEncrypted
		}
		return parts, ErrNotCompact
	}
	parts[0], parts[1], _ = strings.Cut(raw, ".")
	parts[1], parts[2], _ = strings.Cut(parts[1], ".")
	return parts, nil
}
