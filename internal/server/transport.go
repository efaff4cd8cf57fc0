package server

import (
	"crypto/x509"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// peerCert is the TLS client certificate, only when the TLS stack verified
// its chain (TOKEX_TLS_CLIENT_CA): an unverified certificate proves nothing
// (RFC 8705 §2.1).
func peerCert(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	return r.TLS.PeerCertificates[0]
}

// tooManyRequests sets Retry-After (RFC 9110 §10.2.3, whole seconds) for a
// rate limit refusal (RFC 6585 §4) and returns its status.
func tooManyRequests(c *gin.Context, wait time.Duration) int {
	c.Header("Retry-After", strconv.FormatInt(max(1, int64(math.Ceil(wait.Seconds()))), 10))
	return http.StatusTooManyRequests
}
