// Package store connects tokex to the shared-state store that several replicas
// use as one: a server on the Redis protocol (Redis 6.2+, Valkey 7+), through
// go-redis v9. The replay cache and the rate limiter build their Redis
// implementations on a Client.
//
// Invariants: a Client is built from process settings only (the URL's password
// is never logged: Redacted); every call through Observe gets a span, a
// round-trip measurement and, on failure, an error count and a rate-limited
// log line; keys are Prefix + a namespace + a hash, never a raw token or
// secret; Close releases every connection and goroutine.
package store
