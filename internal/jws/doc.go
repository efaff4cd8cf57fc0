// Package jws is the one strict reader of every JWS and JWT that tokex
// receives: subject and actor tokens, client assertions, and later DPoP
// proofs and bearer assertions. One reader means one set of answers to the
// parser-differential questions:
//
//   - segments are base64url exactly as RFC 7515 §2 says: the URL-safe
//     alphabet, no padding, no whitespace, zero trailing bits;
//   - JSON is decoded with json v2: duplicate member names, invalid UTF-8
//     and case-insensitive name matching are refused;
//   - a NumericDate (RFC 7519 §2) beyond what a time can hold is the far
//     future (or past), never a wrapped-around date;
//   - aud is a string or an array of strings (RFC 7519 §4.1.3), nothing else.
//
// Nothing here verifies a signature or judges a claim: callers do.
package jws
