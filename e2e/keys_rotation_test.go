package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// cli runs the tokex binary with args and returns stdout and stderr.
func cli(t *testing.T, wantCode int, args ...string) (string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(tokexBin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != wantCode {
		t.Fatalf("tokex %s: exit %d (%v), want %d\nstderr: %s", strings.Join(args, " "), code, err, wantCode, errb.String())
	}
	return out.String(), errb.String()
}

// rotationVerifier is a downstream API: keyfunc caching tokex's JWKS, refreshed
// every max-age as the Cache-Control header says, and (unlike keyfunc's
// default) never re-fetched on an unknown kid, so a token only verifies if its
// key reached the cache ahead of time, which is what rotation must guarantee.
type rotationVerifier struct {
	kf       keyfunc.Keyfunc
	iss, aud string
}

func (v rotationVerifier) verify(raw string) (string, error) {
	tok, err := jwt.Parse(raw, v.kf.Keyfunc, jwt.WithValidMethods([]string{"ES256"}),
		jwt.WithIssuer(v.iss), jwt.WithAudience(v.aud), jwt.WithExpirationRequired())
	if err != nil {
		return "", err
	}
	kid, _ := tok.Header["kid"].(string)
	return kid, nil
}

// nextCreatedAt is the created_at of the keys file's next key.
func nextCreatedAt(t *testing.T, file string) time.Time {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []struct {
			Tokex struct {
				State     string    `json:"state"`
				CreatedAt time.Time `json:"created_at"`
			} `json:"tokex"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range doc.Keys {
		if k.Tokex.State == "next" {
			return k.Tokex.CreatedAt
		}
	}
	t.Fatalf("%s has no next key", file)
	return time.Time{}
}

// TestKeysRotationRunbook follows README "Key rotation runbook" against the
// built binary, with min_next shortened to 4s (so the JWKS max-age is 2s):
// generate once, then three rotations back to back, each as early as rotate
// allows, while exchanges run and a downstream verifier caching the JWKS
// validates every minted token. Zero failures.
func TestKeysRotationRunbook(t *testing.T) {
	const minNext = 4 * time.Second
	up := newIdPs(t)
	keysFile := filepath.Join(t.TempDir(), "keys.json")

	// Once: tokex keys generate > keys.json; chmod 600 keys.json
	gen, _ := cli(t, 0, "keys", "generate", "--min-next", minNext.String())
	if err := os.WriteFile(keysFile, []byte(gen), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keysFile, 0o600); err != nil {
		t.Fatal(err)
	}
	x := start(t, startOpts{policy: up.policy("", ""), env: []string{"TOKEX_KEYS=" + keysFile, "TOKEX_RELOAD_INTERVAL=200ms"}})

	jwks := x.get(t, "/.well-known/jwks.json", nil)
	m := regexp.MustCompile(`max-age=(\d+)`).FindStringSubmatch(jwks.Header.Get("Cache-Control"))
	if m == nil {
		t.Fatalf("JWKS Cache-Control = %q, want a max-age", jwks.Header.Get("Cache-Control"))
	}
	secs, _ := strconv.Atoi(m[1])
	maxAge := time.Duration(secs) * time.Second
	if maxAge != minNext/2 {
		t.Fatalf("JWKS max-age = %s, want min_next/2 = %s", maxAge, minNext/2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{x.URL + "/.well-known/jwks.json"}, keyfunc.Override{
		RefreshInterval:   maxAge,
		RefreshUnknownKID: rate.NewLimiter(0, 0), // never: only the max-age refresh brings keys
	})
	if err != nil {
		t.Fatal(err)
	}
	subjects := make([]string, 20)
	for i := range subjects {
		subjects[i] = up.corp.Sign(up.corp.Claims(fmt.Sprintf("user-%d", i), x.Issuer))
		x.secret(subjects[i])
	}
	// Every minted token goes through the downstream verifier; kids counts
	// the keys that signed them.
	v := rotationVerifier{kf: kf, iss: x.Issuer, aud: audInventory}
	var kidsMu sync.Mutex
	kids := map[string]int{}
	signedBy := func(kid string) bool {
		kidsMu.Lock()
		defer kidsMu.Unlock()
		return kids[kid] > 0
	}
	l := newLoad(x, subjects)
	l.check = func(tok string) error {
		kid, err := v.verify(tok)
		if err != nil {
			return fmt.Errorf("downstream verification: %w", err)
		}
		kidsMu.Lock()
		kids[kid]++
		kidsMu.Unlock()
		return nil
	}
	l.run(2)

	notBefore := nextCreatedAt(t, keysFile).Add(minNext)
	promotedRe := regexp.MustCompile(`"([^"]+)" is active`)
	fromRe := regexp.MustCompile(`the next rotation may run from (\S+)`)
	var promoted []string
	for round := 1; round <= 3; round++ {
		// Step 4 of the previous round: not before the time rotate printed.
		time.Sleep(time.Until(notBefore) + 100*time.Millisecond)
		// Step 1: tokex keys rotate --max-lifetime 15m keys.json (the policy's max_lifetime is 10m).
		_, msg := cli(t, 0, "keys", "rotate", "--max-lifetime", "10m", keysFile)
		pm, fm := promotedRe.FindStringSubmatch(msg), fromRe.FindStringSubmatch(msg)
		if pm == nil || fm == nil {
			t.Fatalf("round %d: rotate said:\n%s", round, msg)
		}
		promoted = append(promoted, pm[1])
		if notBefore, err = time.Parse(time.RFC3339, fm[1]); err != nil {
			t.Fatalf("round %d: the printed time: %v", round, err)
		}
		if st, err := os.Stat(keysFile); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("round %d: keys file mode after rotate: %v %v", round, st.Mode(), err)
		}
		// Step 2: tokex picks the file up within TOKEX_RELOAD_INTERVAL, or at once on SIGHUP.
		if round == 2 {
			if err := x.cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
		}
		// Step 3: the JWKS equals what `tokex keys public keys.json` prints.
		public, _ := cli(t, 0, "keys", "public", keysFile)
		waitFor(t, fmt.Sprintf("round %d: the JWKS of the rotated file", round), func() bool {
			return bytes.Equal(bytes.TrimSpace(x.get(t, "/.well-known/jwks.json", nil).Body), bytes.TrimSpace([]byte(public)))
		})
		waitFor(t, fmt.Sprintf("round %d: tokens signed by %s", round, pm[1]), func() bool { return signedBy(pm[1]) })
	}
	// A rotation right away is refused, as the runbook says, and changes nothing.
	before, err := os.ReadFile(keysFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, msg := cli(t, 1, "keys", "rotate", "--max-lifetime", "10m", keysFile); !strings.Contains(msg, "refusing to rotate") {
		t.Errorf("an early rotation said: %s", msg)
	}
	if after, _ := os.ReadFile(keysFile); !bytes.Equal(before, after) {
		t.Error("a refused rotation changed the keys file")
	}
	// Let the verifier's cache go through another refresh with the final set.
	time.Sleep(maxAge + 500*time.Millisecond)
	l.finish(t) // every token minted and verified downstream, none failed

	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(x.get(t, "/.well-known/jwks.json", nil).Body, &doc); err != nil {
		t.Fatal(err)
	}
	// One active, one next and the three keys retired within the last 10m.
	if len(doc.Keys) != 5 {
		t.Errorf("the JWKS has %d keys, want 5 (active, next, three retired)", len(doc.Keys))
	}
	kidsMu.Lock()
	defer kidsMu.Unlock()
	if len(kids) != 4 {
		t.Errorf("tokens were signed by %d keys (%v), want 4: the first and the three promoted %q", len(kids), kids, promoted)
	}
	t.Logf("%d tokens minted and verified downstream through 3 rotations; by kid: %v", l.ok.Load(), kids)
	if !strings.Contains(x.stdout.String(), `"msg":"keys reloaded"`) {
		t.Error("the log does not show a keys reload")
	}
}
