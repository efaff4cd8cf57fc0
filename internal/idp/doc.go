// Package idp is what tokex knows about the tokens of the identity providers
// it federates: a table of shapes (how to recognise a provider's tokens by
// iss, aud, claims and header, and what to tell whoever holds one), and the
// tells of the two tokens people most often send to the wrong place, an ID
// token and a Microsoft Graph access token.
//
// The table is data, read only; /token's refusal texts (internal/issuer) and
// `tokex inspect` (internal/inspect) both read it, so they never disagree.
// Nothing here verifies a token: a recognised shape is a hint, not trust.
package idp
