// Package server is tokex's HTTP edge: the gin router, middleware, thin handlers
// and the one table that maps OAuth error codes to HTTP statuses. It is the only
// package that imports gin.
//
// Invariants: request bodies are capped; form parameters come from the body only
// and a repeated one is refused; an unexpected error or panic becomes a bare
// server_error, never err.Error(); every /token answer carries Cache-Control:
// no-store.
package server
