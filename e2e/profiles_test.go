package e2e

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/testidp"
	"github.com/tokex/tokex/sdk/verify"
)

// The profiles' targets: a trust domain for Transaction Tokens, a resource
// authorization server (and its API) for ID-JAGs.
const (
	trustDomain = "https://trust.example.com"
	wikiAS      = "https://as.wiki.example"
	wikiAPI     = "https://api.wiki.example"
)

// Rules of the profile tests, appended to the default policy's: one mints
// Txn-Tokens, one ID-JAGs, and one ordinary access tokens whose aud is the
// trust domain, so that only the token type tells them from Txn-Tokens.
const (
	txnRule = `  - name: checkout-txn
    profile: txn_token
    clients: [orders, billing]
    issuers: [corp]
    trust_domain: ` + trustDomain + `
    scopes: [checkout, refund]
    require: 'request_details.amount < 1000'
    max_replacements: 1
    tctx: {tier: claims.tier}
    rctx: {req_ip: request_context.req_ip}
`
	jagRule = `  - name: orders-to-wiki
    profile: id_jag
    clients: [orders]
    issuers: [workforce]
    authorization_servers:
      - issuer: ` + wikiAS + `
        client_id: orders-at-wiki
        scopes: [wiki.read, wiki.write]
        resources: [` + wikiAPI + `]
`
	trustAccessRule = `  - name: orders-to-trust
    clients: [orders]
    issuers: [corp]
    audience: ` + trustDomain + `
    scopes: [checkout]
`
)

// workforceIssuer is a trusted issuer of ID tokens (and access tokens)
// issued to the clients orders and billing: the subjects of ID-JAGs.
func workforceIssuer(wf *testidp.IdP) string {
	return fmt.Sprintf(`  - name: workforce
    issuer_url: %q
    jwks_uri: %q
    token_types: [access_token, id_token]
    id_token_audiences: [orders, billing]`, wf.Issuer(), wf.JWKSURI())
}

// txnContext is the request_context a gateway sends: the rule copies only
// req_ip into rctx.
const txnContext = `{"req_ip":"203.0.113.7","user_agent":"curl/8.7-unnamed-member"}`

// txnRequest asks for a Txn-Token for subject; kv overrides parameters.
func txnRequest(subject string, kv ...string) url.Values {
	return exchangeForm(subject, append([]string{
		api.ParamRequestedTokenType, api.TokenTypeTxnToken, api.ParamAudience, trustDomain, api.ParamScope, "checkout refund",
		api.ParamRequestContext, txnContext, api.ParamRequestDetails, `{"amount":42}`,
	}, kv...)...)
}

// replacement asks for a replacement of the Txn-Token txn with scope.
func replacement(txn, scope string) url.Values {
	return txnRequest(txn, api.ParamSubjectTokenType, api.TokenTypeTxnToken, api.ParamScope, scope,
		api.ParamRequestContext, absent, api.ParamRequestDetails, `{"amount":7}`)
}

// withTxnHeader is a request to a workload carrying raw in its Txn-Token
// header; withBearer one carrying it as an access token.
func withTxnHeader(raw string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://workload.internal/checkout", nil)
	r.Header.Set(verify.TxnTokenHeader, raw)
	return r
}

func withBearer(raw string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://workload.internal/checkout", nil)
	r.Header.Set("Authorization", "Bearer "+raw)
	return r
}

// wantVerifyRefusal checks an sdk/verify refusal: its reason and a fragment
// of its description.
func wantVerifyRefusal(t *testing.T, err error, reason verify.Reason, desc string) {
	t.Helper()
	var ve *verify.Error
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a *verify.Error", err)
	}
	if ve.Reason != reason || ve.Status != http.StatusUnauthorized || !strings.Contains(ve.Description, desc) {
		t.Errorf("refusal %d %s %q, want 401 %s mentioning %q", ve.Status, ve.Reason, ve.Description, reason, desc)
	}
}

// explanation is `tokex explain --json`.
type explanation struct {
	Checks []struct {
		Step   string `json:"step"`
		Check  string `json:"check"`
		Result string `json:"result"`
		Detail string `json:"detail"`
	} `json:"checks"`
	Rule   string         `json:"rule"`
	Claims map[string]any `json:"claims"`
	Error  *struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	} `json:"error"`
}

// explainJSON runs `tokex explain --json` of the running instance's policy
// with token on stdin; the output never holds the token.
func (x *instance) explainJSON(t *testing.T, token string, wantCode int, args ...string) explanation {
	t.Helper()
	args = append([]string{"explain", "--config", x.Config, "--token", "-", "--json"}, args...)
	code, out, errOut := runCommand(t, token, args...)
	if code != wantCode {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, wantCode, out, errOut)
	}
	if strings.Contains(out+errOut, token[strings.LastIndexByte(token, '.')+1:]) {
		t.Errorf("the output holds the token")
	}
	var e explanation
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("explain --json: %v\n%s", err, out)
	}
	return e
}

// result is the result of the check step/name, "" if there is none.
func (e explanation) result(step, name string) string {
	for _, c := range e.Checks {
		if c.Step == step && c.Check == name {
			return c.Result
		}
	}
	return ""
}

// TestTxnTokenProfile: Transaction Tokens from the built binary
// (draft-ietf-oauth-transaction-tokens-10): minted with only the context
// members the rule names, verified by a workload with sdk/verify, replaced
// once by another client (same txn, narrower scope, req_wl grows) and not
// twice, never widened; the request's own parameters refused when wrong; a
// Txn-Token and an access token with the same aud never taken for each
// other; audit events, metrics and explain name the profile. The harness
// checks that no token reaches the output.
func TestTxnTokenProfile(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	admin := "127.0.0.1:" + freePort(t)
	x := start(t, startOpts{policy: up.policy("", txnRule+trustAccessRule), env: []string{"TOKEX_ADMIN_ADDR=" + admin}})
	c := up.corp.Claims("alice", x.Issuer)
	c["tier"], c["email"] = "gold", "alice@example.com"
	subject := up.corp.Sign(c)

	r := x.post(t, request{form: txnRequest(subject)}.as(orders))
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	if r.str("issued_token_type") != api.TokenTypeTxnToken || r.str("token_type") != api.TokenTypeNA || r.JSON["expires_in"] != 60.0 || r.str("scope") != "checkout refund" {
		t.Errorf("answer = %s", r.Body)
	}
	first := r.str("access_token")
	tok, claims := x.verifyMinted(t, first, x.Issuer, trustDomain)
	if tok.Header["typ"] != api.TypTxnToken {
		t.Errorf("typ = %v, want %s", tok.Header["typ"], api.TypTxnToken)
	}
	txn, _ := claims["txn"].(string)
	if txn == "" || claims["sub"] != "alice" || claims["req_wl"] != orders.id || claims["scope"] != "checkout refund" || claims["jti"] == nil {
		t.Errorf("claims = %v", claims)
	}
	if fmt.Sprint(claims["tctx"]) != "map[tier:gold]" || fmt.Sprint(claims["rctx"]) != "map[req_ip:203.0.113.7]" {
		t.Errorf("tctx = %v, rctx = %v: only the members the rule names", claims["tctx"], claims["rctx"])
	}
	for _, k := range []string{"client_id", "cnf", "email", "user_agent"} {
		if _, ok := claims[k]; ok {
			t.Errorf("claim %s in a Txn-Token", k)
		}
	}
	if payload, _ := json.Marshal(claims); strings.Contains(string(payload), "unnamed-member") {
		t.Errorf("an unnamed request_context member leaked into the Txn-Token: %s", payload)
	}
	wantAudit(t, x.audit(t, r.TraceID), map[string]any{"outcome": "granted", "profile": "txn_token", "rule": "checkout-txn", "client_id": orders.id, "txn": txn})

	// The workload: verifies Txn-Tokens of the trust domain, and access
	// tokens for it as its API.
	v, err := verify.New(t.Context(), verify.Config{Issuer: x.Issuer, Audience: trustDomain, TrustDomain: trustDomain})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.VerifyTxnToken(t.Context(), withTxnHeader(first))
	if err != nil {
		t.Fatalf("VerifyTxnToken: %v", err)
	}
	if got.Txn != txn || got.Subject != "alice" || got.Audience != trustDomain || !slices.Equal(got.Scopes, []string{"checkout", "refund"}) ||
		!slices.Equal(got.RequestingWorkloads, []string{orders.id}) || got.Replacements != 0 ||
		fmt.Sprint(got.Context) != "map[tier:gold]" || fmt.Sprint(got.RequestContext) != "map[req_ip:203.0.113.7]" {
		t.Errorf("verified Txn-Token = %+v", got)
	}

	// Replaced once, by another client.
	r = x.post(t, request{form: replacement(first, "refund")}.as(billing))
	if r.Status != http.StatusOK {
		t.Fatalf("replacement: status %d: %s", r.Status, r.Body)
	}
	replaced := r.str("access_token")
	_, rc := x.verifyMinted(t, replaced, x.Issuer, trustDomain)
	if rc["txn"] != txn || fmt.Sprint(rc["req_wl"]) != "[orders billing]" || rc["scope"] != "refund" || fmt.Sprint(rc["tctx"]) != "map[tier:gold]" || fmt.Sprint(rc["rctx"]) != "map[req_ip:203.0.113.7]" {
		t.Errorf("replacement claims = %v", rc)
	}
	if _, ok := rc["req_wl"].([]any); !ok {
		t.Errorf("a replacement's req_wl = %#v, want an array", rc["req_wl"])
	}
	if rc["exp"].(float64) > claims["exp"].(float64) {
		t.Errorf("the replacement expires at %v, after the Txn-Token it replaces (%v)", rc["exp"], claims["exp"])
	}
	wantAudit(t, x.audit(t, r.TraceID), map[string]any{"outcome": "granted", "profile": "txn_token", "rule": "checkout-txn", "client_id": billing.id, "txn": txn})
	got, err = v.VerifyTxnToken(t.Context(), withTxnHeader(replaced))
	if err != nil {
		t.Fatalf("VerifyTxnToken of the replacement: %v", err)
	}
	if got.Txn != txn || got.Replacements != 1 || !slices.Equal(got.RequestingWorkloads, []string{orders.id, billing.id}) || !slices.Equal(got.Scopes, []string{"refund"}) {
		t.Errorf("verified replacement = %+v", got)
	}

	// An access token of the same tokex, with the same aud.
	r = x.post(t, request{form: exchangeForm(subject, "audience", trustDomain)}.as(orders))
	if r.Status != http.StatusOK || r.str("issued_token_type") != api.TokenTypeAccessToken {
		t.Fatalf("access token: status %d: %s", r.Status, r.Body)
	}
	accessTok := r.str("access_token")
	if _, err := v.Verify(t.Context(), withBearer(accessTok)); err != nil {
		t.Fatalf("the access token does not verify as one: %v", err)
	}

	t.Run("never outlives the subject token", func(t *testing.T) {
		c := up.corp.Claims("alice", x.Issuer)
		c["exp"] = time.Now().Add(20 * time.Second).Unix()
		r := x.post(t, request{form: txnRequest(up.corp.Sign(c))}.as(orders))
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		if exp, _ := r.JSON["expires_in"].(float64); exp <= 0 || exp > 20 {
			t.Errorf("expires_in = %v, want at most 20", r.JSON["expires_in"])
		}
	})

	t.Run("a DPoP proof does not bind a Txn-Token", func(t *testing.T) {
		proof := testidp.NewDPoPKey(t, false).Proof(t, http.MethodPost, x.Issuer+"/token", time.Now(), nil, nil)
		r := x.post(t, request{form: txnRequest(subject), header: map[string]string{"DPoP": proof}}.as(orders))
		if r.Status != http.StatusOK || r.str("token_type") != api.TokenTypeNA {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		if _, claims := x.verifyMinted(t, r.str("access_token"), x.Issuer, trustDomain); claims["cnf"] != nil {
			t.Errorf("cnf = %v in a Txn-Token", claims["cnf"])
		}
		wantAudit(t, x.audit(t, r.TraceID), map[string]any{"outcome": "granted", "profile": "txn_token"})
	})

	t.Run("token types are not confused", func(t *testing.T) {
		_, err := v.Verify(t.Context(), withBearer(first))
		wantVerifyRefusal(t, err, verify.ReasonType, "this is a Transaction Token (typ txntoken+jwt), not an access token")
		_, err = v.VerifyTxnToken(t.Context(), withTxnHeader(accessTok))
		wantVerifyRefusal(t, err, verify.ReasonType, "this is an access token (typ at+jwt), not a Transaction Token")
	})

	big := `{"req_ip":"` + strings.Repeat("x", 4096) + `"}`
	for _, tc := range []struct {
		name    string
		req     request
		status  int
		code    api.ErrorCode
		reason  string
		profile string // of the audit event
		desc    []string
	}{
		{name: "a second replacement: past max_replacements", req: request{form: replacement(replaced, "refund")}.as(orders),
			status: 400, code: api.ErrInvalidRequest, reason: "txn_token_replacement_limit", desc: []string{"replaced 1 times", "max_replacements 1"}},
		{name: "a replacement widens the scope", req: request{form: replacement(replaced, "checkout")}.as(orders),
			status: 400, code: api.ErrInvalidScope, reason: "txn_token_scope_widened", desc: []string{"may only narrow the scope", `"checkout"`}},
		{name: "request_context oversized", req: request{form: txnRequest(subject, api.ParamRequestContext, big)}.as(orders),
			status: 400, code: api.ErrInvalidRequest, reason: "invalid_parameter", desc: []string{"request_context", "more than the 4096 allowed"}},
		{name: "request_context not an object", req: request{form: txnRequest(subject, api.ParamRequestContext, `["203.0.113.7"]`)}.as(orders),
			status: 400, code: api.ErrInvalidRequest, reason: "invalid_parameter", desc: []string{"request_context must be a JSON object"}},
		{name: "no scope", req: request{form: txnRequest(subject, api.ParamScope, absent)}.as(orders),
			status: 400, code: api.ErrInvalidRequest, reason: "missing_parameter", desc: []string{"scope is required", "purpose"}},
		{name: "resource instead of the trust domain", req: request{form: txnRequest(subject, api.ParamResource, trustDomain)}.as(orders),
			status: 400, code: api.ErrInvalidTarget, reason: "invalid_parameter", desc: []string{"name it with audience, not resource"}},
		{name: "request_details fail the rule's condition", req: request{form: txnRequest(subject, api.ParamRequestDetails, `{"amount":5000}`)}.as(orders),
			status: 400, code: api.ErrInvalidRequest, reason: "condition_not_met", desc: []string{"checkout-txn"}},
		{name: "a Txn-Token as the subject of an access token request", req: request{form: exchangeForm(first, api.ParamSubjectTokenType, api.TokenTypeTxnToken, "audience", trustDomain)}.as(orders),
			status: 400, code: api.ErrInvalidRequest, reason: "unsupported_token_type", profile: "token_exchange", desc: []string{"a Txn-Token is exchanged only for a replacement Txn-Token"}},
		{name: "an access token sent as a Txn-Token", req: request{form: replacement(accessTok, "checkout")}.as(orders),
			status: 400, code: api.ErrInvalidRequest, reason: string(issuer.ReasonTokenType), desc: []string{"subject_token", `"at+jwt"`, "only a Txn-Token can be replaced"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := x.post(t, tc.req)
			wantError(t, r, tc.status, tc.code, tc.desc...)
			wantAudit(t, x.audit(t, r.TraceID), map[string]any{"outcome": "refused", "reason": tc.reason, "profile": cmp.Or(tc.profile, "txn_token")})
		})
	}

	t.Run("explain", func(t *testing.T) {
		e := x.explainJSON(t, subject, 0, "--client", orders.id, "--requested-token-type", "txn_token", "--audience", trustDomain,
			"--scope", "checkout refund", "--request-context", txnContext, "--request-details", `{"amount":42}`)
		if e.Rule != "checkout-txn" || e.result("policy", "txn_token") != "pass" || e.Claims["aud"] != trustDomain || e.Claims["req_wl"] != orders.id ||
			fmt.Sprint(e.Claims["tctx"]) != "map[tier:gold]" || fmt.Sprint(e.Claims["rctx"]) != "map[req_ip:203.0.113.7]" || e.Claims["scope"] != "checkout refund" {
			t.Errorf("explain = %+v", e)
		}
		e = x.explainJSON(t, first, 0, "--client", billing.id, "--token-type", "txn_token", "--requested-token-type", "txn_token", "--audience", trustDomain,
			"--scope", "refund", "--request-details", `{"amount":7}`)
		if e.Rule != "checkout-txn" || e.result("subject token", "txn_token") != "pass" || e.Claims["txn"] != txn || fmt.Sprint(e.Claims["req_wl"]) != "[orders billing]" {
			t.Errorf("explain of a replacement = %+v", e)
		}
		e = x.explainJSON(t, replaced, 1, "--client", orders.id, "--token-type", "txn_token", "--requested-token-type", "txn_token", "--audience", trustDomain,
			"--scope", "refund", "--request-details", `{"amount":7}`)
		if e.result("policy", "txn_token") != "FAIL" || e.Error == nil || !strings.Contains(e.Error.Description, "max_replacements 1") {
			t.Errorf("explain of a replacement past the limit = %+v", e)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		for sample, want := range map[string]float64{
			`tokex_exchanges_total{tokex_client_id="orders",tokex_error_code="",tokex_issuer="corp",tokex_outcome="granted",tokex_profile="txn_token",tokex_reason="",tokex_rule="checkout-txn"}`:                                                      3, // the first Txn-Token, "never outlives the subject token" and "a DPoP proof ..."
			`tokex_exchanges_total{tokex_client_id="billing",tokex_error_code="",tokex_issuer="tokex:txn_token",tokex_outcome="granted",tokex_profile="txn_token",tokex_reason="",tokex_rule="checkout-txn"}`:                                          1,
			`tokex_exchanges_total{tokex_client_id="orders",tokex_error_code="invalid_request",tokex_issuer="tokex:txn_token",tokex_outcome="refused",tokex_profile="txn_token",tokex_reason="txn_token_replacement_limit",tokex_rule="checkout-txn"}`: 1,
			`tokex_exchanges_total{tokex_client_id="orders",tokex_error_code="invalid_request",tokex_issuer="",tokex_outcome="refused",tokex_profile="txn_token",tokex_reason="missing_parameter",tokex_rule=""}`:                                      1,
		} {
			if got := metricValue(t, admin, sample); got != want {
				t.Errorf("%s = %v, want %v", sample, got, want)
			}
		}
	})
}

// TestIDJAGProfile: Identity Assertion JWT Authorization Grants from the
// built binary (draft-ietf-oauth-identity-assertion-authz-grant-04): an ID
// token issued to the client is exchanged for an ID-JAG a resource
// authorization server verifies with tokex's JWKS; what the rule does not
// allow is refused, and an ID token issued to another client too; an
// ID-JAG is no access token; a DPoP proof binds it; explain, audit events,
// metrics and metadata name the profile.
func TestIDJAGProfile(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	wf := testidp.New(t)
	admin := "127.0.0.1:" + freePort(t)
	x := start(t, startOpts{policy: up.policy(workforceIssuer(wf), jagRule), env: []string{"TOKEX_ADMIN_ADDR=" + admin}})
	authTime := time.Now().Add(-5 * time.Minute).Unix()
	idToken := func(aud string) string {
		c := wf.Claims("alice", aud)
		c["nonce"], c["auth_time"], c["acr"], c["amr"], c["tid"] = "n-0S6_WzA2Mj", authTime, "urn:example:mfa", []string{"pwd", "otp"}, "tenant-1"
		return wf.Sign(c)
	}
	jagRequest := func(subject string, kv ...string) url.Values {
		return exchangeForm(subject, append([]string{
			api.ParamSubjectTokenType, api.TokenTypeIDToken, api.ParamRequestedTokenType, api.TokenTypeIDJAG,
			api.ParamAudience, wikiAS, api.ParamResource, wikiAPI, api.ParamScope, "wiki.read",
		}, kv...)...)
	}

	idt := idToken(orders.id)
	r := x.post(t, request{form: jagRequest(idt)}.as(orders))
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	if r.str("issued_token_type") != api.TokenTypeIDJAG || r.str("token_type") != api.TokenTypeNA || r.str("scope") != "wiki.read" {
		t.Errorf("answer = %s", r.Body)
	}
	// The resource authorization server verifies it with tokex's JWKS.
	jag := r.str("access_token")
	tok, claims := x.verifyMinted(t, jag, x.Issuer, wikiAS)
	if tok.Header["typ"] != api.TypIDJAG {
		t.Errorf("typ = %v, want %s", tok.Header["typ"], api.TypIDJAG)
	}
	for k, want := range map[string]string{"iss": x.Issuer, "sub": "alice", "aud": wikiAS, "client_id": "orders-at-wiki", "resource": wikiAPI, "scope": "wiki.read",
		"acr": "urn:example:mfa", "amr": "[pwd otp]", "auth_time": fmt.Sprint(float64(authTime)), "tenant": "tenant-1"} {
		if fmt.Sprint(claims[k]) != want {
			t.Errorf("claim %s = %v, want %s", k, claims[k], want)
		}
	}
	for _, k := range []string{"jti", "exp", "iat"} {
		if claims[k] == nil {
			t.Errorf("no claim %s", k)
		}
	}
	for _, k := range []string{"cnf", "nonce"} {
		if _, ok := claims[k]; ok {
			t.Errorf("claim %s in an ID-JAG minted without a DPoP proof", k)
		}
	}
	wantAudit(t, x.audit(t, r.TraceID), map[string]any{"outcome": "granted", "profile": "id_jag", "rule": "orders-to-wiki", "audience": wikiAS, "client_id": orders.id})

	t.Run("an ID-JAG is no access token", func(t *testing.T) {
		v, err := verify.New(t.Context(), verify.Config{Issuer: x.Issuer, Audience: wikiAS})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(t.Context(), withBearer(jag))
		wantVerifyRefusal(t, err, verify.ReasonType, "this is an Identity Assertion JWT Authorization Grant (typ oauth-id-jag+jwt), not an access token")
	})

	t.Run("DPoP-bound", func(t *testing.T) {
		key := testidp.NewDPoPKey(t, false)
		proof := key.Proof(t, http.MethodPost, x.Issuer+"/token", time.Now(), nil, nil)
		r := x.post(t, request{form: jagRequest(idToken(orders.id)), header: map[string]string{"DPoP": proof}}.as(orders))
		if r.Status != http.StatusOK || r.str("token_type") != api.TokenTypeNA {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		_, claims := x.verifyMinted(t, r.str("access_token"), x.Issuer, wikiAS)
		if cnf, _ := claims["cnf"].(map[string]any); cnf["jkt"] != key.JKT() {
			t.Errorf("cnf = %v, want jkt %s", claims["cnf"], key.JKT())
		}
		wantAudit(t, x.audit(t, r.TraceID), map[string]any{"outcome": "granted", "profile": "id_jag", "binding": "bound"})
	})

	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		code   api.ErrorCode
		reason string
		desc   []string
		audit  map[string]any // more fields of the audit event
	}{
		{name: "an ID token issued to another client", form: jagRequest(idToken(billing.id)),
			status: 400, code: api.ErrInvalidRequest, reason: "id_token_not_for_client", desc: []string{`does not name client "orders"`, "billing"},
			audit: map[string]any{"issuer": "workforce", "subject": "alice"}},
		{name: "an access token as the subject", form: jagRequest(wf.Sign(wf.Claims("alice", x.Issuer)), api.ParamSubjectTokenType, api.TokenTypeAccessToken),
			status: 400, code: api.ErrInvalidRequest, reason: "unsupported_token_type", desc: []string{"an ID-JAG is issued for an ID token"}},
		{name: "an authorization server the rule does not name", form: jagRequest(idToken(orders.id), api.ParamAudience, "https://as.other.example"),
			status: 400, code: api.ErrInvalidTarget, reason: "no_rule", desc: []string{"https://as.other.example"}},
		{name: "a resource the authorization server does not list", form: jagRequest(idToken(orders.id), api.ParamResource, "https://evil.example/api"),
			status: 400, code: api.ErrInvalidTarget, reason: "no_rule", desc: []string{"does not allow resource", "https://evil.example/api"}},
		{name: "a scope the authorization server may not receive", form: jagRequest(idToken(orders.id), api.ParamScope, "wiki.admin"),
			status: 400, code: api.ErrInvalidScope, reason: "no_scope", desc: []string{"none of the requested scopes", "wiki.read wiki.write"}},
		{name: "no audience", form: jagRequest(idToken(orders.id), api.ParamAudience, absent),
			status: 400, code: api.ErrInvalidRequest, reason: "missing_parameter", desc: []string{"audience is required for an ID-JAG"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := x.post(t, request{form: tc.form}.as(orders))
			wantError(t, r, tc.status, tc.code, tc.desc...)
			want := map[string]any{"outcome": "refused", "reason": tc.reason, "profile": "id_jag"}
			maps.Copy(want, tc.audit)
			wantAudit(t, x.audit(t, r.TraceID), want)
		})
	}

	t.Run("explain", func(t *testing.T) {
		args := []string{"--client", orders.id, "--token-type", "id_token", "--requested-token-type", "id-jag", "--audience", wikiAS, "--resource", wikiAPI, "--scope", "wiki.read"}
		e := x.explainJSON(t, idt, 0, args...)
		if e.Rule != "orders-to-wiki" || e.result("subject token", "id_token aud") != "pass" || e.result("policy", "id_jag") != "pass" ||
			e.Claims["aud"] != wikiAS || e.Claims["client_id"] != "orders-at-wiki" || e.Claims["resource"] != wikiAPI || e.Claims["acr"] != "urn:example:mfa" {
			t.Errorf("explain = %+v", e)
		}
		e = x.explainJSON(t, idToken(billing.id), 1, args...)
		if e.result("subject token", "id_token aud") != "FAIL" || e.Error == nil || e.Error.Error != string(api.ErrInvalidRequest) || !strings.Contains(e.Error.Description, `does not name client "orders"`) || e.Claims != nil {
			t.Errorf("explain of an ID token for another client = %+v", e)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		for sample, want := range map[string]float64{
			`tokex_exchanges_total{tokex_client_id="orders",tokex_error_code="",tokex_issuer="workforce",tokex_outcome="granted",tokex_profile="id_jag",tokex_reason="",tokex_rule="orders-to-wiki"}`:                         2,
			`tokex_exchanges_total{tokex_client_id="orders",tokex_error_code="invalid_request",tokex_issuer="workforce",tokex_outcome="refused",tokex_profile="id_jag",tokex_reason="id_token_not_for_client",tokex_rule=""}`: 1,
			`tokex_exchanges_total{tokex_client_id="orders",tokex_error_code="invalid_request",tokex_issuer="",tokex_outcome="refused",tokex_profile="id_jag",tokex_reason="missing_parameter",tokex_rule=""}`:                1,
		} {
			if got := metricValue(t, admin, sample); got != want {
				t.Errorf("%s = %v, want %v", sample, got, want)
			}
		}
	})

	t.Run("metadata", func(t *testing.T) {
		md := x.get(t, "/.well-known/oauth-authorization-server", nil)
		want := []any{api.TokenTypeAccessToken, api.TokenTypeTxnToken, api.TokenTypeIDJAG}
		if got, _ := md.JSON["identity_chaining_requested_token_types_supported"].([]any); !slices.Equal(got, want) {
			t.Errorf("identity_chaining_requested_token_types_supported = %v, want %v", md.JSON["identity_chaining_requested_token_types_supported"], want)
		}
	})
}

// TestProfilePolicyCheck: `tokex policy check` of the built binary accepts
// the profile rules of these tests and refuses one missing what its profile
// needs, or carrying what it cannot use, naming the key path.
func TestProfilePolicyCheck(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	wf := testidp.New(t)
	dir := t.TempDir()
	// rules[3] is txnRule, rules[4] jagRule, rules[5] trustAccessRule.
	rules := txnRule + jagRule + trustAccessRule
	check := func(t *testing.T, rules string) (int, string) {
		t.Helper()
		f := filepath.Join(dir, strings.NewReplacer(" ", "_", "/", "_").Replace(t.Name())+".yaml")
		if err := os.WriteFile(f, []byte(up.policy(workforceIssuer(wf), rules)("https://sts.example.com")), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, _ := runCommand(t, "", "policy", "check", f)
		return code, out
	}
	if code, out := check(t, rules); code != 0 || !strings.Contains(out, "checkout-txn, orders-to-wiki, orders-to-trust") {
		t.Fatalf("the profile rules: exit %d\n%s", code, out)
	}
	for _, tc := range []struct {
		name, old, new string
		want           []string // in the output
	}{
		{name: "txn_token without trust_domain", old: "    trust_domain: " + trustDomain + "\n    scopes: [checkout, refund]\n", new: "    scopes: [checkout, refund]\n",
			want: []string{"rules[3].trust_domain", "required"}},
		{name: "txn_token with sender_constraint dpop", old: "    max_replacements: 1\n", new: "    max_replacements: 1\n    sender_constraint: dpop\n",
			want: []string{"rules[3].sender_constraint", "not sender-constrained"}},
		{name: "txn_token with lifetime 10m", old: "    max_replacements: 1\n", new: "    max_replacements: 1\n    lifetime: 10m\n",
			want: []string{"rules[3].lifetime", "longer than 5m0s"}},
		{name: "id_jag without authorization_servers", old: jagRule[strings.Index(jagRule, "    authorization_servers:"):], new: "",
			want: []string{"rules[4].authorization_servers", "at least one is required"}},
		{name: "id_jag with audience", old: "    profile: id_jag\n", new: "    profile: id_jag\n    audience: " + wikiAS + "\n",
			want: []string{"rules[4].audience", "authorization_servers[].issuer"}},
		{name: "id_jag over an issuer without id_token", old: "    issuers: [workforce]\n", new: "    issuers: [corp]\n",
			want: []string{"rules[4].issuers[0]", `issuer "corp" does not accept ID tokens`}},
		{name: "trust_domain on an access-token rule", old: "    audience: " + trustDomain + "\n", new: "    audience: " + trustDomain + "\n    trust_domain: " + trustDomain + "\n",
			want: []string{"rules[5].trust_domain", "belongs to profile txn_token rules"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Count(rules, tc.old) != 1 {
				t.Fatalf("%q is not in the rules once", tc.old)
			}
			code, out := check(t, strings.Replace(rules, tc.old, tc.new, 1))
			if code != 1 {
				t.Errorf("exit %d, want 1\n%s", code, out)
			}
			for _, w := range append([]string{": 1 problem\n"}, tc.want...) {
				if !strings.Contains(out, w) {
					t.Errorf("output does not mention %q:\n%s", w, out)
				}
			}
		})
	}
}
