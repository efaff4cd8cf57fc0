// Package jsonenc writes the few fixed JSON objects of the exchange's hot
// path (the token response, the minted claims) by appending, at a fraction of
// a reflective json.Marshal. Strings are quoted by json v2's jsontext, except
// the common string that needs no escape at all.
package jsonenc

import (
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
)

// String appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json writes it.
func String(dst []byte, s string) []byte {
	if out, ok := AppendPlain(dst, s); ok {
		return out
	}
	dst, _ = jsontext.AppendQuote(dst, s) // the error only reports U+FFFD substitutions
	return dst
}

// AppendPlain appends s as a JSON string if it is written as is (printable
// ASCII without " \ < > &), the same by every JSON writer, or reports false
// and returns dst unchanged.
func AppendPlain(dst []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if !plain[s[i]] {
			return dst, false
		}
	}
	return Compact(dst, s), true
}

// plain are the bytes that stand for themselves in a JSON string as
// encoding/json writes it: printable ASCII except " \ and the HTML-unsafe < > &.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

// Compact appends a compact JWS (RFC 7515 §7.1) that tokex made, or any
// string known to be plain, as a JSON string: base64url characters and dots
// never need an escape, so the token's bytes are not scanned.
func Compact(dst []byte, jws string) []byte {
	dst = append(dst, '"')
	dst = append(dst, jws...)
	return append(dst, '"')
}

// Member appends "name": (name must need no escape) after a comma unless it
// is the object's first member.
func Member(dst []byte, name string) []byte {
	if n := len(dst); n > 0 && dst[n-1] != '{' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	return append(dst, '"', ':')
}

// Int appends n.
func Int(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }
