package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/testidp"
)

// tokexBin is the binary under test, built once by TestMain.
var tokexBin string

func TestMain(m *testing.M) { os.Exit(buildAndRun(m)) }

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tokex-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	tokexBin = filepath.Join(dir, "tokex")
	args := []string{"build", "-o", tokexBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/tokex")
	cmd := exec.Command(goTool(), args...)
	cmd.Dir = ".." // the repository root; tests run in the package directory
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go %s: %v\n", strings.Join(args, " "), err)
		return 1
	}
	return m.Run()
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// Clients of the default policy. orders' secret uses only [A-Za-z0-9-._~], so
// both Basic encodings agree; billing's has characters that form-urlencoding
// changes ('+', '%', '/', '=', '&').
var (
	orders  = clientCred{id: "orders", secret: "orders-S3cret_0123456789.abcdefghij~XYZ"}
	billing = clientCred{id: "billing", secret: "bill+ing%20s3cret/x==&y"}
)

type clientCred struct{ id, secret string }

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Audiences and rules of the default policy.
const (
	audInventory = "https://inventory.example.com"
	audPayments  = "https://payments.example.com"
	audLedger    = "https://ledger.example.com"
	celCondition = `claims.tid == "t1" && claims.sub.startsWith("alice")`
)

// idps are the trusted upstream issuers of the default policy: corp (keys from
// jwks_uri, RS256 and ES256) and partner (keys by OIDC discovery of an issuer
// with a path, RS256 only, access_token only).
type idps struct{ corp, partner *testidp.IdP }

func newIdPs(t *testing.T) idps {
	return idps{corp: testidp.New(t), partner: testidp.New(t, testidp.WithIssuerPath("/partner"))}
}

// policy is the default policy file; extraIssuers and extraRules are YAML list
// items appended to issuers and rules.
func (p idps) policy(extraIssuers, extraRules string) func(iss string) string {
	return func(iss string) string {
		return fmt.Sprintf(`# e2e policy
issuer: %q
keys: keys.json
# corp and partner both reach inventory and the tests expect sub "alice" from either.
allow_subject_overlap: true
token:
  default_lifetime: 5m
  max_lifetime: 10m
issuers:
  - name: corp
    issuer_url: %q
    jwks_uri: %q
    leeway: 5s
  - name: partner
    issuer_url: %q
    algorithms: [RS256]
    token_types: [access_token]
    audiences: [%q, "api://partner"]
%s
clients:
  - id: orders
    secret_sha256: %q
  - id: billing
    secret_sha256: %q
rules:
  - name: orders-to-inventory
    clients: [orders]
    issuers: [corp, partner]
    audience: %s
    scopes: [inventory.read, inventory.write]
    lifetime: 2m
  - name: orders-to-payments
    clients: [orders]
    issuers: [corp]
    audience: %s
    scopes: [payments.charge, payments.refund]
    require: '%s'
  - name: billing-to-ledger
    clients: [billing]
    issuers: [corp]
    audience: %s
    scopes: [ledger.read]
    lifetime: 10m
%s`, iss, p.corp.Issuer(), p.corp.JWKSURI(), p.partner.Issuer(), iss, extraIssuers,
			sha256hex(orders.secret), sha256hex(billing.secret),
			audInventory, audPayments, celCondition, audLedger, extraRules)
	}
}

// esKeysFile is a private JWKS with one ES256 key, and its kid.
func esKeysFile(t *testing.T) ([]byte, string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid := "e2e-" + rand.Text()[:12]
	jwk, err := jwkset.NewJWKFromKey(priv, jwkset.JWKOptions{
		Marshal:  jwkset.JWKMarshalOptions{Private: true},
		Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.AlgES256, KID: kid, USE: jwkset.UseSig},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	if err != nil {
		t.Fatal(err)
	}
	return b, kid
}

// instance is a running tokex process.
type instance struct {
	URL    string // http://127.0.0.1:port
	Issuer string // the policy's issuer
	KID    string // kid of the signing key
	Config string // the policy file, for commands that read it (tokex explain)

	cmd            *exec.Cmd
	done           chan struct{}
	stdout, stderr *testidp.SyncBuffer
	client         *http.Client

	stopOnce sync.Once

	mu      sync.Mutex
	secrets []string // must never appear in an answer or in the output
	audited []string // trace ids that must have exactly one audit event
	kf      keyfunc.Keyfunc
	kfStop  context.CancelFunc
}

type startOpts struct {
	policy     func(iss string) string // the policy file, given tokex's issuer URL
	issuerPath string                  // appended to the issuer URL
	env        []string                // extra environment
	clientTLS  *tls.Config             // set: tokex serves HTTPS and is reached with this config
}

// start runs tokex with the policy, waits for /readyz and stops it (SIGTERM,
// expecting exit code 0) when the test ends, then checks its output for leaked
// secrets and the audit events for duplicates.
func start(t *testing.T, o startOpts) *instance {
	t.Helper()
	dir := t.TempDir()
	keys, kid := esKeysFile(t)
	if err := os.WriteFile(filepath.Join(dir, "keys.json"), keys, 0o600); err != nil {
		t.Fatal(err)
	}
	for attempt := 0; ; attempt++ {
		port := freePort(t)
		scheme, transport := "http", http.RoundTripper(nil)
		if o.clientTLS != nil {
			scheme, transport = "https", &http.Transport{TLSClientConfig: o.clientTLS}
		}
		x := &instance{
			URL:    scheme + "://127.0.0.1:" + port,
			KID:    kid,
			done:   make(chan struct{}),
			stdout: &testidp.SyncBuffer{},
			stderr: &testidp.SyncBuffer{},
			client: &http.Client{Timeout: 20 * time.Second, Transport: transport},
		}
		for _, c := range []clientCred{orders, billing} {
			x.secrets = append(x.secrets, c.secret, url.QueryEscape(c.secret),
				base64.StdEncoding.EncodeToString([]byte(c.id+":"+c.secret)),
				base64.StdEncoding.EncodeToString([]byte(c.id+":"+url.QueryEscape(c.secret))))
		}
		x.Issuer = x.URL + o.issuerPath
		cfg := filepath.Join(dir, "policy.yaml")
		x.Config = cfg
		if err := os.WriteFile(cfg, []byte(o.policy(x.Issuer)), 0o600); err != nil {
			t.Fatal(err)
		}
		x.cmd = exec.Command(tokexBin, "serve")
		x.cmd.Env = append([]string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + dir,
			"TOKEX_CONFIG=" + cfg,
			"TOKEX_ADDR=127.0.0.1:" + port, "TOKEX_ADMIN_ADDR=127.0.0.1:0",
			"TOKEX_LOG_LEVEL=info",
		}, o.env...)
		x.cmd.Stdout, x.cmd.Stderr = x.stdout, x.stderr
		if err := x.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = x.cmd.Wait(); close(x.done) }()
		err := x.waitReady()
		if err == nil {
			t.Cleanup(func() { x.stop(t) })
			return x
		}
		_ = x.cmd.Process.Kill()
		<-x.done
		if attempt < 3 && strings.Contains(x.stderr.String()+x.stdout.String(), "address already in use") {
			continue // lost the race for the free port
		}
		t.Fatalf("tokex did not become ready: %v\nstderr:\n%s\nstdout:\n%s", err, x.stderr, x.stdout)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func (x *instance) waitReady() error {
	deadline := time.Now().Add(30 * time.Second)
	c := &http.Client{Timeout: time.Second, Transport: x.client.Transport}
	defer c.CloseIdleConnections()
	for time.Now().Before(deadline) {
		select {
		case <-x.done:
			return fmt.Errorf("exited with %v", x.cmd.ProcessState)
		default:
		}
		resp, err := c.Get(x.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no 200 from /readyz within 30s")
}

// stop sends SIGTERM, waits for the exit and runs the end-of-test checks; it
// runs once (a test may call it to read the final output).
func (x *instance) stop(t *testing.T) {
	x.stopOnce.Do(func() { x.doStop(t) })
}

func (x *instance) doStop(t *testing.T) {
	x.client.CloseIdleConnections()
	x.mu.Lock()
	if x.kfStop != nil {
		x.kfStop()
	}
	x.mu.Unlock()
	_ = x.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-x.done:
	case <-time.After(25 * time.Second):
		_ = x.cmd.Process.Kill()
		<-x.done
		t.Errorf("tokex did not exit within 25s of SIGTERM")
	}
	if code := x.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("tokex exited with code %d after SIGTERM, want 0", code)
	}
	out, errOut := x.stdout.String(), x.stderr.String()
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, s := range x.secrets {
		if strings.Contains(out, s) {
			t.Errorf("stdout holds a token or secret (%s...)", s[:min(12, len(s))])
		}
		if strings.Contains(errOut, s) {
			t.Errorf("stderr holds a token or secret (%s...)", s[:min(12, len(s))])
		}
	}
	if raceEnabled && strings.Contains(errOut, "WARNING: DATA RACE") {
		t.Errorf("the race detector found a data race in tokex")
	}
	counts := map[string]int{}
	for _, ev := range auditEvents(out) {
		if id, _ := ev["trace_id"].(string); id != "" {
			counts[id]++
		}
	}
	for _, id := range x.audited {
		if counts[id] != 1 {
			t.Errorf("trace %s has %d audit events, want 1", id, counts[id])
		}
	}
	if t.Failed() {
		t.Logf("tokex stderr:\n%s", clip(errOut, 4000))
		t.Logf("tokex stdout:\n%s", clip(out, 8000))
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "\n..."
	}
	return s
}

// secret registers a string that must never appear in an answer or the output.
func (x *instance) secret(s string) {
	if len(s) < 12 {
		return // too short to tell a leak from a coincidence
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.secrets = append(x.secrets, s)
	if i := strings.LastIndexByte(s, '.'); i > 0 && len(s)-i > 20 {
		x.secrets = append(x.secrets, s[i+1:]) // the signature alone
	}
}

// --- requests ---

// absent, as a form value, removes the parameter.
const absent = "\x00absent"

// exchangeForm is a token exchange request for subject; kv overrides
// parameters (absent removes one).
func exchangeForm(subject string, kv ...string) url.Values {
	f := url.Values{
		api.ParamGrantType:        {api.GrantTypeTokenExchange},
		api.ParamSubjectToken:     {subject},
		api.ParamSubjectTokenType: {api.TokenTypeAccessToken},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == absent {
			f.Del(kv[i])
		} else {
			f.Set(kv[i], kv[i+1])
		}
	}
	return f
}

type request struct {
	form        url.Values
	body        *string // raw body instead of form
	basic       *clientCred
	basicRaw    bool   // send the Basic credentials without form-urlencoding them first
	contentType string // default application/x-www-form-urlencoded; "-" for none
	query       string
	path        string // default /token
	header      map[string]string
	client      *http.Client // default: the instance's
}

// as authenticates the request with HTTP Basic (RFC 6749 §2.3.1: id and secret
// form-urlencoded, then base64).
func (r request) as(c clientCred) request { r.basic = &c; return r }

type response struct {
	Status  int
	Header  http.Header
	Body    []byte
	JSON    map[string]any
	TraceID string
}

func (r response) str(k string) string { s, _ := r.JSON[k].(string); return s }

// post sends a request to /token with a fresh W3C traceparent, so its audit
// event can be found by trace id.
func (x *instance) post(t *testing.T, r request) response {
	t.Helper()
	body := r.form.Encode()
	if r.body != nil {
		body = *r.body
	}
	for _, k := range []string{api.ParamSubjectToken, api.ParamActorToken, api.ParamClientSecret} {
		for _, v := range r.form[k] {
			x.secret(v)
		}
	}
	u := x.URL + "/token"
	if r.path != "" {
		u = x.URL + r.path
	}
	if r.query != "" {
		u += "?" + r.query
	}
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	switch r.contentType {
	case "":
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case "-":
	default:
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.basic != nil {
		if r.basicRaw {
			req.SetBasicAuth(r.basic.id, r.basic.secret)
		} else {
			req.SetBasicAuth(url.QueryEscape(r.basic.id), url.QueryEscape(r.basic.secret))
		}
	}
	traceID := hex.EncodeToString([]byte(rand.Text())[:16])
	req.Header.Set("traceparent", "00-"+traceID+"-"+hex.EncodeToString([]byte(rand.Text())[:8])+"-01")
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	hc := x.client
	if r.client != nil {
		hc = r.client
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("POST /token: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	out := response{Status: resp.StatusCode, Header: resp.Header, Body: b, TraceID: traceID}
	_ = json.Unmarshal(b, &out.JSON)
	if tok := out.str("access_token"); tok != "" {
		x.secret(tok)
	}
	x.mu.Lock()
	secrets := slicesClone(x.secrets)
	x.mu.Unlock()
	for _, s := range secrets {
		if s != out.str("access_token") && !strings.HasSuffix(out.str("access_token"), s) && strings.Contains(string(b), s) {
			t.Errorf("the answer echoes a token or secret (%s...): %s", s[:min(12, len(s))], clip(string(b), 300))
		}
	}
	return out
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// wantError checks an RFC 6749 §5.2 error answer: status, JSON body with error
// and error_description, no token, no-store, a Basic challenge on 401, and
// description fragments (case-insensitive).
func wantError(t *testing.T, r response, status int, code api.ErrorCode, desc ...string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("status = %d, want %d (%s)", r.Status, status, clip(string(r.Body), 300))
	}
	if r.Status >= 500 && r.Status != http.StatusServiceUnavailable {
		t.Errorf("a 5xx other than 503 for bad input: %d", r.Status)
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", r.Header.Get("Content-Type"))
	}
	if r.JSON == nil {
		t.Fatalf("body is not a JSON object: %s", clip(string(r.Body), 300))
	}
	if got := r.str("error"); got != string(code) {
		t.Errorf("error = %q, want %q (%s)", got, code, r.str("error_description"))
	}
	if r.str("error_description") == "" {
		t.Errorf("no error_description")
	}
	if _, ok := r.JSON["access_token"]; ok {
		t.Errorf("an error answer carries an access_token")
	}
	if !strings.Contains(r.Header.Get("Cache-Control"), "no-store") {
		t.Errorf("Cache-Control = %q, want no-store", r.Header.Get("Cache-Control"))
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("401 without a Basic WWW-Authenticate challenge (got %q)", r.Header.Get("WWW-Authenticate"))
	}
	d := strings.ToLower(r.str("error_description"))
	for _, f := range desc {
		if !strings.Contains(d, strings.ToLower(f)) {
			t.Errorf("error_description %q does not mention %q", r.str("error_description"), f)
		}
	}
}

// --- audit ---

func auditEvents(out string) []map[string]any {
	var evs []map[string]any
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, `"log":"audit"`) {
			continue
		}
		ev := map[string]any{}
		if json.Unmarshal([]byte(line), &ev) == nil {
			evs = append(evs, ev)
		}
	}
	return evs
}

// audit waits for the audit event of the request with traceID and returns it;
// at the end of the test there must be exactly one.
func (x *instance) audit(t *testing.T, traceID string) map[string]any {
	t.Helper()
	x.mu.Lock()
	x.audited = append(x.audited, traceID)
	x.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, ev := range auditEvents(x.stdout.String()) {
			if ev["trace_id"] == traceID {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit event with trace_id %s on stdout", traceID)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantAudit checks fields of an audit event; a nil want value means "present
// and non-empty".
func wantAudit(t *testing.T, ev map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		got, ok := ev[k]
		switch {
		case w == nil && (!ok || got == ""):
			t.Errorf("audit %s is missing (event %v)", k, ev)
		case w != nil && got != w:
			t.Errorf("audit %s = %v, want %v", k, got, w)
		}
	}
}

// --- minted tokens ---

// verifyMinted verifies a minted token as a downstream API would: keyfunc on
// tokex's published JWKS, ES256 only, exact iss, the expected aud.
func (x *instance) verifyMinted(t *testing.T, raw, iss, aud string) (*jwt.Token, jwt.MapClaims) {
	t.Helper()
	x.mu.Lock()
	if x.kf == nil {
		ctx, cancel := context.WithCancel(context.Background())
		kf, err := keyfunc.NewDefaultCtx(ctx, []string{x.URL + "/.well-known/jwks.json"})
		if err != nil {
			cancel()
			x.mu.Unlock()
			t.Fatalf("keyfunc on tokex's JWKS: %v", err)
		}
		x.kf, x.kfStop = kf, cancel
	}
	kf := x.kf
	x.mu.Unlock()
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, kf.Keyfunc,
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(iss), jwt.WithAudience(aud),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		t.Fatalf("the minted token does not verify with tokex's JWKS: %v", err)
	}
	return tok, claims
}

// get fetches a tokex URL path.
func (x *instance) get(t *testing.T, path string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, x.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := x.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	_ = json.Unmarshal(b, &out.JSON)
	return out
}
