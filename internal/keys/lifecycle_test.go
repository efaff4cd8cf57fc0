package keys_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/tokex/tokex/internal/keys"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func ts(t time.Time) string { return t.Format(time.RFC3339) }

// stateful is testdata/keys.json with a tokex member per key: es-1 active,
// ed-1 next, rs-1 retired until t0+20m.
func stateful(t *testing.T) []map[string]any {
	t.Helper()
	ks := keyList(t)
	ks[0]["tokex"] = map[string]any{"state": "active", "created_at": ts(t0.Add(-time.Hour)), "activated_at": ts(t0.Add(-30 * time.Minute))}
	ks[1]["tokex"] = map[string]any{"state": "next", "created_at": ts(t0.Add(-30 * time.Minute))}
	ks[2]["tokex"] = map[string]any{"state": "retired", "created_at": ts(t0.Add(-2 * time.Hour)), "activated_at": ts(t0.Add(-time.Hour)),
		"retired_at": ts(t0.Add(-30 * time.Minute)), "publish_until": ts(t0.Add(20 * time.Minute))}
	return ks
}

func parseAt(t *testing.T, doc []byte, now time.Time) *keys.Set {
	t.Helper()
	s, err := keys.ParseAt(doc, "keys.json", now)
	if err != nil {
		t.Fatalf("ParseAt: %v", err)
	}
	return s
}

func kids(ks []*keys.SigningKey) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.KID)
	}
	return out
}

func TestParseStates(t *testing.T) {
	tests := []struct {
		name       string
		doc        func(t *testing.T) []byte
		now        time.Time
		wantActive string
		wantPub    []string
		wantStates []keys.State
		wantMaxAge time.Duration
	}{
		{name: "without states the first key signs and all are published", now: t0,
			doc:        func(t *testing.T) []byte { return jwksDoc(t, keyList(t)...) },
			wantActive: "es-1", wantPub: []string{"es-1", "ed-1", "rs-1"},
			wantStates: []keys.State{keys.StateActive, "", ""}, wantMaxAge: 5 * time.Minute},
		{name: "retired key inside its tokens' lifetime is published", now: t0,
			doc:        func(t *testing.T) []byte { return jwksDoc(t, stateful(t)...) },
			wantActive: "es-1", wantPub: []string{"es-1", "ed-1", "rs-1"},
			wantStates: []keys.State{keys.StateActive, keys.StateNext, keys.StateRetired}, wantMaxAge: 5 * time.Minute},
		{name: "retired key past publish_until leaves the JWKS", now: t0.Add(20 * time.Minute),
			doc:        func(t *testing.T) []byte { return jwksDoc(t, stateful(t)...) },
			wantActive: "es-1", wantPub: []string{"es-1", "ed-1"},
			wantStates: []keys.State{keys.StateActive, keys.StateNext, keys.StateRetired}, wantMaxAge: 5 * time.Minute},
		{name: "active key need not be first", now: t0,
			doc: func(t *testing.T) []byte {
				ks := stateful(t)
				return jwksDoc(t, ks[2], ks[1], ks[0])
			},
			wantActive: "es-1", wantPub: []string{"rs-1", "ed-1", "es-1"},
			wantStates: []keys.State{keys.StateRetired, keys.StateNext, keys.StateActive}, wantMaxAge: 5 * time.Minute},
		{name: "min_next sets the JWKS max-age", now: t0,
			doc: func(t *testing.T) []byte {
				return mustJSON(t, map[string]any{"tokex": map[string]any{"min_next": "3s"}, "keys": stateful(t)})
			},
			wantActive: "es-1", wantPub: []string{"es-1", "ed-1", "rs-1"},
			wantStates: []keys.State{keys.StateActive, keys.StateNext, keys.StateRetired}, wantMaxAge: time.Second},
		{name: "PS256 on an RSA key", now: t0,
			doc: func(t *testing.T) []byte {
				ks := stateful(t)
				ks[2]["alg"] = "PS256"
				ks[0]["tokex"], ks[2]["tokex"] = ks[2]["tokex"], ks[0]["tokex"]
				return jwksDoc(t, ks...)
			},
			wantActive: "rs-1", wantPub: []string{"es-1", "ed-1", "rs-1"},
			wantStates: []keys.State{keys.StateRetired, keys.StateNext, keys.StateActive}, wantMaxAge: 5 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := parseAt(t, tc.doc(t), tc.now)
			if s.Active().KID != tc.wantActive {
				t.Errorf("active = %q, want %q", s.Active().KID, tc.wantActive)
			}
			if got := kids(s.Published()); !slices.Equal(got, tc.wantPub) {
				t.Errorf("published = %q, want %q", got, tc.wantPub)
			}
			var states []keys.State
			for _, k := range s.Keys() {
				states = append(states, k.State)
			}
			if !slices.Equal(states, tc.wantStates) {
				t.Errorf("states = %q, want %q", states, tc.wantStates)
			}
			if s.MaxAge() != tc.wantMaxAge {
				t.Errorf("MaxAge = %s, want %s", s.MaxAge(), tc.wantMaxAge)
			}
			var doc struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(s.JWKS(), &doc); err != nil {
				t.Fatal(err)
			}
			var pub []string
			for _, k := range doc.Keys {
				pub = append(pub, k["kid"].(string))
				if _, ok := k["tokex"]; ok {
					t.Errorf("the JWKS publishes the tokex member of %v", k["kid"])
				}
			}
			if !slices.Equal(pub, tc.wantPub) {
				t.Errorf("JWKS kids = %q, want %q", pub, tc.wantPub)
			}
			a := s.Active()
			tok := verify(t, s.JWKS(), sign(t, a, claims()), a.Alg)
			if tok.Header["alg"] != a.Alg {
				t.Errorf("alg = %v, want %s", tok.Header["alg"], a.Alg)
			}
		})
	}
}

func TestParseStateRefusals(t *testing.T) {
	tests := []struct {
		name  string
		doc   func(t *testing.T) []byte
		paths []string
	}{
		{name: "no active key", paths: []string{"keys"}, doc: func(t *testing.T) []byte {
			ks := stateful(t)
			ks[0]["tokex"] = map[string]any{"state": "retired"}
			return jwksDoc(t, ks...)
		}},
		{name: "two active keys", paths: []string{"keys[2].tokex.state"}, doc: func(t *testing.T) []byte {
			ks := stateful(t)
			ks[2]["tokex"] = map[string]any{"state": "active"}
			return jwksDoc(t, ks...)
		}},
		{name: "two next keys", paths: []string{"keys[2].tokex.state"}, doc: func(t *testing.T) []byte {
			ks := stateful(t)
			ks[2]["tokex"] = map[string]any{"state": "next"}
			return jwksDoc(t, ks...)
		}},
		{name: "unknown state", paths: []string{"keys[1].tokex.state"}, doc: func(t *testing.T) []byte {
			ks := stateful(t)
			ks[1]["tokex"] = map[string]any{"state": "standby"}
			return jwksDoc(t, ks...)
		}},
		{name: "a key without a state among keys with one", paths: []string{"keys[1].tokex.state"}, doc: func(t *testing.T) []byte {
			ks := stateful(t)
			delete(ks[1], "tokex")
			return jwksDoc(t, ks...)
		}},
		{name: "misspelt lifecycle member", paths: []string{"keys[2].tokex"}, doc: func(t *testing.T) []byte {
			ks := stateful(t)
			ks[2]["tokex"] = map[string]any{"state": "retired", "publish_untill": ts(t0)}
			return jwksDoc(t, ks...)
		}},
		{name: "timestamp that is not RFC 3339", paths: []string{"keys[2].tokex"}, doc: func(t *testing.T) []byte {
			ks := stateful(t)
			ks[2]["tokex"] = map[string]any{"state": "retired", "publish_until": "tomorrow"}
			return jwksDoc(t, ks...)
		}},
		{name: "unsupported alg", paths: []string{"keys[0].alg"}, doc: func(t *testing.T) []byte {
			ks := stateful(t)
			ks[0]["alg"] = "ES384"
			return jwksDoc(t, ks...)
		}},
		{name: "min_next not a duration", paths: []string{"tokex.min_next"}, doc: func(t *testing.T) []byte {
			return mustJSON(t, map[string]any{"tokex": map[string]any{"min_next": "ten minutes"}, "keys": stateful(t)})
		}},
		{name: "min_next below the minimum", paths: []string{"tokex.min_next"}, doc: func(t *testing.T) []byte {
			return mustJSON(t, map[string]any{"tokex": map[string]any{"min_next": "1s"}, "keys": stateful(t)})
		}},
		{name: "unknown file setting", paths: []string{"tokex"}, doc: func(t *testing.T) []byte {
			return mustJSON(t, map[string]any{"tokex": map[string]any{"max_age": "5m"}, "keys": stateful(t)})
		}},
		// Without -tags pkcs11 the binary cannot open it; with it, the module is missing.
		{name: "HSM key that cannot be opened", paths: []string{"keys[0].tokex.pkcs11"}, doc: func(t *testing.T) []byte {
			ks := stateful(t)
			delete(ks[0], "d")
			ks[0]["tokex"] = map[string]any{"state": "active", "pkcs11": map[string]any{"module": "/nonexistent/libpkcs11.so", "token_label": "t", "key_label": "k"}}
			return jwksDoc(t, ks...)
		}},
		{name: "private key and HSM key at once", paths: []string{"keys[0].tokex.pkcs11"}, doc: func(t *testing.T) []byte {
			ks := stateful(t)
			ks[0]["tokex"] = map[string]any{"state": "active", "pkcs11": map[string]any{"module": "/nonexistent.so"}}
			return jwksDoc(t, ks...)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := keys.ParseAt(tc.doc(t), "keys.json", t0)
			if err == nil {
				t.Fatalf("ParseAt accepted the set (%d keys)", len(s.Keys()))
			}
			wantProblems(t, err, "keys.json", tc.paths...)
		})
	}
}

// TestLoadFileBroken: what a reload may find on disk; each is refused with the
// file and the path of the problem.
func TestLoadFileBroken(t *testing.T) {
	good := readFile(t, keysFile)
	noD := keyList(t)
	delete(noD[1], "d")
	tests := []struct {
		name string
		data []byte
		path string
	}{
		{name: "corrupt (truncated)", data: good[:len(good)/2], path: ""},
		{name: "corrupt (garbage)", data: []byte("\x00\x01binary"), path: ""},
		{name: "empty", data: nil, path: ""},
		{name: "only whitespace", data: []byte("\n  \n"), path: ""},
		{name: "private key missing", data: jwksDoc(t, noD...), path: "keys[1].d"},
		{name: "two active keys", data: jwksDoc(t, func() []map[string]any {
			ks := stateful(t)
			ks[1]["tokex"] = map[string]any{"state": "active"}
			return ks
		}()...), path: "keys[1].tokex.state"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.json")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := keys.LoadFile(path)
			if err == nil {
				t.Fatalf("LoadFile accepted it (%d keys)", len(s.Keys()))
			}
			wantProblems(t, err, path, tc.path)
		})
	}
}

func TestGenerateSet(t *testing.T) {
	for _, alg := range []string{keys.ES256, keys.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			s, err := keys.GenerateSet(keys.GenerateOptions{Alg: alg, MinNext: time.Minute, Now: t0})
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Keys()) != 2 || s.Keys()[0].State != keys.StateActive || s.Keys()[1].State != keys.StateNext {
				t.Fatalf("want one active and one next key, got %d keys", len(s.Keys()))
			}
			for _, k := range s.Keys() {
				if k.Alg != alg || !k.CreatedAt.Equal(t0) {
					t.Errorf("%s: alg %s created %s, want %s at %s", k.KID, k.Alg, k.CreatedAt, alg, t0)
				}
			}
			// The file round-trips with its states, times and min_next.
			doc, err := s.MarshalPrivate()
			if err != nil {
				t.Fatal(err)
			}
			back := parseAt(t, doc, t0)
			if back.MinNext() != time.Minute || back.Active().KID != s.Active().KID || back.ETag() != s.ETag() {
				t.Errorf("round trip: min_next %s, active %s, etag %s; want %s, %s, %s", back.MinNext(), back.Active().KID, back.ETag(), time.Minute, s.Active().KID, s.ETag())
			}
			for i, k := range back.Keys() {
				o := s.Keys()[i]
				if k.State != o.State || !k.CreatedAt.Equal(o.CreatedAt) || !k.ActivatedAt.Equal(o.ActivatedAt) {
					t.Errorf("keys[%d] round trip: %+v, want %+v", i, k, o)
				}
			}
		})
	}
	if _, err := keys.GenerateSet(keys.GenerateOptions{MinNext: time.Second, Now: t0}); !errors.Is(err, keys.ErrBadSettings) {
		t.Errorf("min_next 1s: err = %v, want ErrBadSettings", err)
	}
}

// TestRotateSequence: three rotations; tokens of every key that signed stay
// verifiable with the JWKS until they expire.
func TestRotateSequence(t *testing.T) {
	const minNext = 10 * time.Minute
	o := keys.RotateOptions{MaxLifetime: 15 * time.Minute, Leeway: 5 * time.Minute}
	s, err := keys.GenerateSet(keys.GenerateOptions{MinNext: minNext, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	o.Now = t0.Add(minNext - time.Second)
	if _, _, err := s.Rotate(o); !errors.Is(err, keys.ErrNextTooYoung) {
		t.Fatalf("rotation before min_next: err = %v, want ErrNextTooYoung", err)
	}
	type signed struct {
		token string
		alg   string
		exp   time.Time
	}
	var tokens []signed
	mint := func(s *keys.Set, now time.Time) {
		c := claims()
		c["exp"] = now.Add(o.MaxLifetime).Unix()
		tokens = append(tokens, signed{sign(t, s.Active(), c), s.Active().Alg, now.Add(o.MaxLifetime)})
	}
	now := t0
	mint(s, now)
	steps := []struct {
		after       time.Duration
		wantDropped int
	}{
		{after: minNext, wantDropped: 0},
		{after: minNext, wantDropped: 0},
		// t0+35m: the key retired at t0+10m is past its publish_until (t0+30m),
		// the one retired at t0+20m is not (t0+40m).
		{after: 15 * time.Minute, wantDropped: 1},
	}
	for i, st := range steps {
		now = now.Add(st.after)
		o.Now = now
		prev := s
		next, r, err := s.Rotate(o)
		if err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
		if r.Promoted != findState(prev, keys.StateNext) {
			t.Errorf("rotation %d promoted %q, want the next key", i+1, r.Promoted)
		}
		if r.Retired != prev.Active().KID || next.Active().KID != r.Promoted || len(r.Dropped) != st.wantDropped {
			t.Errorf("rotation %d: %+v", i+1, r)
		}
		if !r.SignsFrom.Equal(now.Add(minNext)) {
			t.Errorf("rotation %d: SignsFrom %s, want %s", i+1, r.SignsFrom, now.Add(minNext))
		}
		// Through the file, as tokex would read it.
		doc, err := next.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		s = parseAt(t, doc, now)
		if err := keys.CheckSuccessor(prev, s, now); err != nil {
			t.Errorf("rotation %d: CheckSuccessor: %v", i+1, err)
		}
		kf, err := keyfunc.NewJWKSetJSON(s.JWKS())
		if err != nil {
			t.Fatal(err)
		}
		for j, tok := range tokens {
			if !tok.exp.After(now) {
				continue // expired: its key may be gone
			}
			if _, err := jwt.Parse(tok.token, kf.Keyfunc, jwt.WithValidMethods([]string{tok.alg}), jwt.WithTimeFunc(func() time.Time { return now })); err != nil {
				t.Errorf("rotation %d: token %d (exp %s) does not verify: %v", i+1, j, tok.exp, err)
			}
		}
		mint(s, now)
	}
}

func findState(s *keys.Set, st keys.State) string {
	for _, k := range s.Keys() {
		if k.State == st {
			return k.KID
		}
	}
	return ""
}

// TestRotateFileWithoutStates: a file from before rotation gets a next key and
// keeps signing with its first key; its other keys become retired.
func TestRotateFileWithoutStates(t *testing.T) {
	s := parseAt(t, readFile(t, keysFile), t0)
	next, r, err := s.Rotate(keys.RotateOptions{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if r.Promoted != "" || next.Active().KID != "es-1" || r.Added == "" {
		t.Errorf("rotation %+v, active %s", r, next.Active().KID)
	}
	want := map[string]keys.State{"es-1": keys.StateActive, r.Added: keys.StateNext, "ed-1": keys.StateRetired, "rs-1": keys.StateRetired}
	for _, k := range next.Keys() {
		if want[k.KID] != k.State {
			t.Errorf("%s: state %q, want %q", k.KID, k.State, want[k.KID])
		}
		if k.State == keys.StateRetired && !k.PublishUntil.Equal(t0.Add(keys.DefaultMaxLifetime+keys.DefaultLeeway)) {
			t.Errorf("%s: publish_until %s", k.KID, k.PublishUntil)
		}
	}
	if len(next.Published()) != 4 {
		t.Errorf("published %q, want all four", kids(next.Published()))
	}
}

func TestCheckSuccessor(t *testing.T) {
	old := func(t *testing.T) *keys.Set { return parseAt(t, jwksDoc(t, stateful(t)...), t0) }
	tests := []struct {
		name string
		next func(t *testing.T) []map[string]any
		now  time.Time
		want error // nil: accepted
	}{
		{name: "unchanged", now: t0, next: stateful},
		{name: "retired key removed inside its tokens' lifetime", now: t0, want: keys.ErrRetiredInUse,
			next: func(t *testing.T) []map[string]any { return stateful(t)[:2] }},
		{name: "retired key removed after publish_until", now: t0.Add(20 * time.Minute),
			next: func(t *testing.T) []map[string]any { return stateful(t)[:2] }},
		{name: "active key removed", now: t0, want: keys.ErrRetiredInUse,
			next: func(t *testing.T) []map[string]any {
				ks := stateful(t)
				ks[1]["tokex"] = map[string]any{"state": "active"}
				return ks[1:]
			}},
		{name: "next key promoted after min_next", now: t0,
			next: func(t *testing.T) []map[string]any {
				ks := stateful(t)
				ks[0]["tokex"] = map[string]any{"state": "retired", "publish_until": ts(t0.Add(20 * time.Minute))}
				ks[1]["tokex"] = map[string]any{"state": "active"}
				return ks
			}},
		{name: "next key promoted before min_next", now: t0, want: keys.ErrNextTooYoung,
			next: func(t *testing.T) []map[string]any {
				ks := stateful(t)
				ks[0]["tokex"] = map[string]any{"state": "retired"}
				ks[1]["tokex"] = map[string]any{"state": "active"}
				return ks
			}},
		{name: "roll back to a retired key", now: t0,
			next: func(t *testing.T) []map[string]any {
				ks := stateful(t)
				ks[0]["tokex"] = map[string]any{"state": "retired"}
				ks[2]["tokex"] = map[string]any{"state": "active"}
				return ks
			}},
		{name: "a key never published becomes active", now: t0, want: keys.ErrNotPublished,
			next: func(t *testing.T) []map[string]any {
				ks := stateful(t)
				ks[0]["tokex"] = map[string]any{"state": "retired"}
				ks[1]["kid"] = "ed-new"
				ks[1]["tokex"] = map[string]any{"state": "active"}
				return ks
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := old(t)
			// The old set's next key was created 30m before t0; min_next 10m.
			if tc.want == keys.ErrNextTooYoung {
				o = parseAt(t, mustJSON(t, map[string]any{"tokex": map[string]any{"min_next": "1h"}, "keys": stateful(t)}), t0)
			}
			err := keys.CheckSuccessor(o, parseAt(t, jwksDoc(t, tc.next(t)...), tc.now), tc.now)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(path, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil { // umask-proof
		t.Fatal(err)
	}
	if err := keys.WriteFileAtomic(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got := string(readFile(t, path)); got != "new" {
		t.Errorf("content = %q", got)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode = %o, want 640", st.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("the directory holds %d entries, want only keys.json (no temporary file left)", len(entries))
	}
}
