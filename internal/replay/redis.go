package replay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokex/tokex/internal/store"
)

// Namespaces of the identifiers tokex remembers; each has its own keys.
const (
	NamespaceClientAssertion = "jti:client_assertion" // private_key_jwt (RFC 7523 §3 item 7)
	NamespaceDPoP            = "jti:dpop"             // DPoP proofs (RFC 9449 §11.1)
	NamespaceJWTBearer       = "jti:jwt_bearer"       // jwt-bearer grant assertions (RFC 7523 §3)
)

// RedisOptions build a Redis cache.
type RedisOptions struct {
	Store     *store.Client
	Namespace string           // e.g. NamespaceClientAssertion; a DPoP proof cache takes its own
	Now       func() time.Time // default time.Now
}

// Redis is a Cache shared by every replica on one store. A key is used with
// one atomic SET NX PX (never read-then-write), so of two replicas racing
// with the same identifier exactly one sees it fresh. A store error is
// returned as an error: the caller fails closed.
type Redis struct {
	st  *store.Client
	ns  string
	now func() time.Time
}

// NewRedis returns a cache on o.Store.
func NewRedis(o RedisOptions) *Redis {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Redis{st: o.Store, ns: o.Namespace, now: o.Now}
}

// Use implements Cache. The stored key is a hash of key (see store.Key); it
// expires at exp.
func (r *Redis) Use(ctx context.Context, key string, exp time.Time) (bool, error) {
	ttl := max(exp.Sub(r.now()), time.Millisecond)
	ctx, done := r.st.Observe(ctx, "replay.use")
	err := r.st.SetArgs(ctx, r.st.Key(r.ns, key), "1", redis.SetArgs{Mode: "NX", TTL: ttl}).Err()
	switch {
	case errors.Is(err, redis.Nil): // NX: the key is there, a replay
		done(nil)
		return false, nil
	case err != nil:
		done(err)
		return false, fmt.Errorf("replay cache %s: %w", r.ns, err)
	}
	done(nil)
	return true, nil
}
