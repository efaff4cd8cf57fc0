package server

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// tooManyRequests sets Retry-After (RFC 9110 §10.2.3, whole seconds) for a
// rate limit refusal (RFC 6585 §4) and returns its status.
func tooManyRequests(c *gin.Context, wait time.Duration) int {
	c.Header("Retry-After", strconv.FormatInt(max(1, int64(math.Ceil(wait.Seconds()))), 10))
	return http.StatusTooManyRequests
}
