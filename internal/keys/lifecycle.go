package keys

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Refusals of a key set change: each would make some valid token fail to verify
// somewhere, or leave tokex without a signing key.
var (
	ErrNoActive     = errors.New("no active key: tokex would have nothing to sign with")
	ErrTwoActive    = errors.New("two active keys: exactly one key signs")
	ErrRetiredInUse = errors.New("a key still inside its tokens' lifetime would leave the JWKS")
	ErrNextTooYoung = errors.New("the next key has not been published long enough to be in every downstream cache")
	ErrNotPublished = errors.New("the new active key was never published")
	ErrBadSettings  = errors.New("invalid rotation settings")
)

// Token lifetime defaults for rotation (SPEC: token.max_lifetime defaults to 15m).
const (
	DefaultMaxLifetime = 15 * time.Minute
	// DefaultLeeway covers downstream verifiers' clock skew and the time for the
	// rotated file to reach every replica (a Kubernetes Secret takes up to about
	// two minutes), during which replicas still sign with the old key.
	DefaultLeeway = 5 * time.Minute
)

// GenerateOptions describe a new keys file.
type GenerateOptions struct {
	Alg     string        // "" is ES256
	MinNext time.Duration // 0 is DefaultMinNext
	Now     time.Time
}

// GenerateSet makes a key set ready to rotate: one active key and one next key
// of the same algorithm, both created at o.Now.
func GenerateSet(o GenerateOptions) (*Set, error) {
	now := ceilSecond(o.Now.UTC())
	if o.MinNext == 0 {
		o.MinNext = DefaultMinNext
	}
	if o.MinNext < MinMinNext {
		return nil, fmt.Errorf("%w: min_next %s is shorter than %s", ErrBadSettings, o.MinNext, MinMinNext)
	}
	active, err := generateKey(o.Alg, StateActive, now)
	if err != nil {
		return nil, err
	}
	active.ActivatedAt = now
	next, err := generateKey(o.Alg, StateNext, now)
	if err != nil {
		return nil, err
	}
	return newSet([]*SigningKey{active, next}, o.MinNext, true, now)
}

// RotateOptions are the settings of one rotation.
type RotateOptions struct {
	Now time.Time
	// MaxLifetime is the longest lifetime of a token tokex mints (the policy's
	// token.max_lifetime); 0 is DefaultMaxLifetime.
	MaxLifetime time.Duration
	// Leeway is added to MaxLifetime before a retired key leaves the JWKS;
	// 0 is DefaultLeeway.
	Leeway time.Duration
	// Alg is the algorithm of the new next key; "" keeps that of the current
	// next key (or of the active key).
	Alg string
}

// Rotation says what a rotation did.
type Rotation struct {
	Promoted  string    // kid now active; "" when there was no next key to promote
	Retired   string    // kid of the formerly active key
	Added     string    // kid of the new next key
	SignsFrom time.Time // earliest time the new next key may be promoted
	Dropped   []string  // retired keys whose tokens have all expired
}

// Rotate returns the set one rotation later: next becomes active, active
// becomes retired (published until its tokens have expired), a new next key is
// added, and retired keys whose tokens have all expired are dropped. With no
// next key (a file from before rotation) it only adds one. It refuses to
// promote a next key younger than MinNext.
func (s *Set) Rotate(o RotateOptions) (*Set, Rotation, error) {
	now := o.Now.UTC()
	stamp := ceilSecond(now) // times written to the file err late: min_next and publish_until never shrink
	if o.MaxLifetime == 0 {
		o.MaxLifetime = DefaultMaxLifetime
	}
	if o.Leeway == 0 {
		o.Leeway = DefaultLeeway
	}
	if o.MaxLifetime < 0 || o.Leeway < 0 {
		return nil, Rotation{}, fmt.Errorf("%w: max lifetime %s and leeway %s must not be negative", ErrBadSettings, o.MaxLifetime, o.Leeway)
	}
	publishUntil := stamp.Add(o.MaxLifetime + o.Leeway)
	var next *SigningKey
	for _, k := range s.all {
		if k.State == StateNext {
			next = k
		}
	}
	var r Rotation
	if next != nil {
		if ready := next.CreatedAt.Add(s.minNext); now.Before(ready) {
			return nil, r, fmt.Errorf("%w: %q became next at %s and may sign from %s (min_next %s); run the rotation again then",
				ErrNextTooYoung, next.KID, next.CreatedAt.Format(time.RFC3339), ready.Format(time.RFC3339), s.minNext)
		}
	}
	alg := o.Alg
	if alg == "" {
		alg = s.active.Alg
		if next != nil {
			alg = next.Alg
		}
	}
	added, err := generateKey(alg, StateNext, stamp)
	if err != nil {
		return nil, r, err
	}
	r.Added, r.SignsFrom = added.KID, stamp.Add(s.minNext)
	var active, retired []*SigningKey
	for _, k := range s.all {
		c := *k
		switch {
		case next != nil && k == next:
			c.State, c.ActivatedAt = StateActive, stamp
			r.Promoted = k.KID
			active = append(active, &c)
		case next == nil && k == s.active:
			active = append(active, &c) // stays active: nothing to promote yet
		case k == s.active, k.State == "":
			// The formerly active key, and the published keys of a file without
			// states, may have signed tokens that are still valid.
			if k == s.active {
				r.Retired = k.KID
			}
			c.State, c.RetiredAt, c.PublishUntil = StateRetired, stamp, publishUntil
			retired = append(retired, &c)
		case k.State == StateRetired && !k.published(now):
			r.Dropped = append(r.Dropped, k.KID)
		default:
			retired = append(retired, &c)
		}
	}
	all := slices.Concat(active, []*SigningKey{added}, retired)
	out, err := newSet(all, s.minNext, true, now)
	if err != nil {
		return nil, r, err
	}
	if err := CheckSuccessor(s, out, now); err != nil {
		return nil, r, err
	}
	return out, r, nil
}

// CheckSuccessor refuses a key set change that would break validation at now:
// a key of old that a valid token may name must stay published in next, and
// next's active key must have been published in old long enough (or be a key
// old already publishes without waiting: active or retired, a roll back).
func CheckSuccessor(old, next *Set, now time.Time) error {
	var errs []error
	in := map[string]*SigningKey{}
	for _, k := range next.published {
		in[k.KID] = k
	}
	for _, k := range old.all {
		if !k.published(now) || k.State == StateNext {
			continue // a next key has signed nothing yet
		}
		if _, ok := in[k.KID]; !ok {
			until := "as long as it is in the file"
			if !k.PublishUntil.IsZero() {
				until = "until " + k.PublishUntil.Format(time.RFC3339)
			}
			errs = append(errs, fmt.Errorf("%w: %q (%s) must stay published %s", ErrRetiredInUse, k.KID, k.State, until))
		}
	}
	a := next.active
	var was *SigningKey
	for _, k := range old.published {
		if k.KID == a.KID {
			was = k
		}
	}
	switch {
	case was == nil:
		errs = append(errs, fmt.Errorf("%w: %q must be a next key for at least %s before it signs", ErrNotPublished, a.KID, old.minNext))
	case was.State == StateNext && now.Before(was.CreatedAt.Add(old.minNext)):
		errs = append(errs, fmt.Errorf("%w: %q may sign from %s", ErrNextTooYoung, a.KID, was.CreatedAt.Add(old.minNext).Format(time.RFC3339)))
	}
	return errors.Join(errs...)
}

// WriteFileAtomic replaces path with data so that a reader (tokex's reload)
// sees the old file or the new one, never a part: a temporary file in the same
// directory, synced, then renamed over path, keeping path's permission bits.
func WriteFileAtomic(path string, data []byte) error {
	perm := os.FileMode(0o600)
	if st, err := os.Stat(path); err == nil {
		perm = st.Mode().Perm()
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	// The rename is durable once the directory is synced.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// ceilSecond rounds t up to a whole second, as the file records seconds.
func ceilSecond(t time.Time) time.Time {
	if d := t.Truncate(time.Second); !d.Equal(t) {
		return d.Add(time.Second)
	}
	return t
}
