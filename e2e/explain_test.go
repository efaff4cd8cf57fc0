package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/testidp"
)

// explainRule maps claims and withholds a scope by a condition.
const explainRule = `  - name: orders-to-reports
    clients: [orders]
    issuers: [corp]
    audience: https://reports.example.com
    scopes: [reports.read, reports.admin]
    claims:
      department: claims.dept
      dept_code: '"d-" + claims.dept'
      groups: claims.groups
    scope_conditions:
      reports.admin: "'admins' in claims.groups"
`

// explainDelegationRule lets orders exchange with an actor token of corp.
const explainDelegationRule = `  - name: orders-to-audit
    clients: [orders]
    issuers: [corp]
    audience: https://audit.example.com
    scopes: [audit.read]
    delegation: allowed
    actor_issuers: [corp]
`

// runCommand runs the built binary with args and stdin; it returns the exit
// code and the output.
func runCommand(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tokexBin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("tokex %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// TestExplainBinary: `tokex explain` of the built binary, against an IdP whose
// keys come from its jwks_uri, grants and refuses as the exchange would, shows
// the claims it would mint, and never prints the token.
func TestExplainBinary(t *testing.T) {
	ps := newIdPs(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(cfg, []byte(ps.policy("", explainRule+explainDelegationRule)("https://sts.example.com")), 0o600); err != nil {
		t.Fatal(err)
	}
	claims := func(over map[string]any) map[string]any {
		c := ps.corp.Claims("alice", "https://sts.example.com")
		c["dept"], c["groups"] = "finance", []string{"staff"}
		for k, v := range over {
			c[k] = v
		}
		return c
	}
	good := ps.corp.Sign(claims(nil))
	actorFile := filepath.Join(dir, "actor")
	if err := os.WriteFile(actorFile, []byte(ps.corp.Sign(ps.corp.Claims("svc-batch", "https://sts.example.com"))), 0o600); err != nil {
		t.Fatal(err)
	}
	// Check rows: step, check and result, whatever the column widths.
	row := func(step, check, result string) string {
		return step + `\s+` + regexp.QuoteMeta(check) + `\s+` + result + `\b`
	}
	tests := []struct {
		name     string
		token    string
		args     []string
		wantCode int
		want     []string // regular expressions
	}{
		{name: "granted", token: good, args: []string{"--client", "orders", "--audience", "https://reports.example.com"}, wantCode: 0,
			want: []string{"verdict: GRANTED", row("subject token", "signature", "pass"), "withheld by scope_conditions: reports.admin", `"department": "finance"`, `"scope": "reports.read"`, `"aud": "https://reports.example.com"`}},
		{name: "expired", token: ps.corp.Sign(claims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix(), "nbf": time.Now().Add(-2 * time.Hour).Unix()})),
			args: []string{"--client", "orders", "--audience", "https://reports.example.com"}, wantCode: 1,
			want: []string{`verdict: REFUSED - invalid_request \(expired\)`, row("subject token", "exp/nbf/iat", "FAIL"), "no token would be minted"}},
		{name: "foreign key", token: ps.corp.Sign(claims(nil), testidp.Foreign()), args: []string{"--client", "orders", "--audience", "https://reports.example.com"}, wantCode: 1,
			want: []string{row("subject token", "kid", "FAIL"), row("subject token", "signature", "not run")}},
		{name: "no rule", token: good, args: []string{"--client", "billing", "--audience", "https://reports.example.com"}, wantCode: 1,
			want: []string{"invalid_target", row("policy", "rule", "FAIL")}},
		{name: "json", token: good, args: []string{"--client", "orders", "--audience", "https://reports.example.com", "--json"}, wantCode: 0,
			want: []string{`"result": "pass"`, `"rule": "orders-to-reports"`, `"department": "finance"`}},
		{name: "delegation", token: good, args: []string{"--client", "orders", "--audience", "https://audit.example.com", "--actor-token", "@" + actorFile}, wantCode: 0,
			want: []string{"verdict: GRANTED", row("delegation", "delegation", "pass"), row("actor token", "signature", "pass"), `"act": \{\s+"iss": "[^"]+",\s+"sub": "svc-batch"`}},
		{name: "delegation forbidden", token: good, args: []string{"--client", "orders", "--audience", "https://reports.example.com", "--actor-token", "@" + actorFile}, wantCode: 1,
			want: []string{`invalid_request \(delegation_forbidden\)`, row("delegation", "delegation", "FAIL")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"explain", "--config", cfg, "--token", "-"}, tc.args...)
			code, out, errOut := runCommand(t, tc.token, args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, out, errOut)
			}
			for _, w := range tc.want {
				if !regexp.MustCompile(w).MatchString(out) {
					t.Errorf("output does not match %q:\n%s", w, out)
				}
			}
			if strings.Contains(out+errOut, tc.token) || strings.Contains(out+errOut, tc.token[strings.LastIndexByte(tc.token, '.')+1:]) {
				t.Errorf("the output holds the token")
			}
		})
	}
	// The token as a file argument gives the same verdict.
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte(good+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCommand(t, "", "explain", "--config", cfg, "--token", "@"+tokFile, "--client", "orders", "--audience", "https://reports.example.com"); code != 0 {
		t.Errorf("--token @FILE: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := runCommand(t, "", "explain", "--config", cfg); code != 2 || !strings.Contains(errOut, "usage: tokex explain") {
		t.Errorf("no token: exit %d, stderr %s", code, errOut)
	}
}

// TestPolicyCheckBinary: `tokex policy check` of the built binary.
func TestPolicyCheckBinary(t *testing.T) {
	ps := newIdPs(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(ps.policy("", explainRule)("https://sts.example.com")), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	doc := strings.Replace(ps.policy("", explainRule)("https://sts.example.com"), "department: claims.dept", "sub: claims.dept", 1)
	doc = strings.Replace(doc, "reports.admin: \"'admins'", "reports.write: \"'admins'", 1)
	if err := os.WriteFile(bad, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCommand(t, "", "policy", "check", good)
	if code != 0 || !strings.Contains(out, "valid") || !strings.Contains(out, "rules:    4 (orders-to-inventory, orders-to-payments, billing-to-ledger, orders-to-reports)") {
		t.Errorf("good policy: exit %d\n%s", code, out)
	}
	code, out, _ = runCommand(t, "", "policy", "check", bad)
	if code != 1 || !strings.Contains(out, "rules[3].claims.sub") || !strings.Contains(out, "rules[3].scope_conditions.reports.write") {
		t.Errorf("bad policy: exit %d\n%s", code, out)
	}
}

// TestClaimMappingExchange: over HTTP, the minted token carries the rule's
// mapped claims, scope conditions withhold what the subject does not qualify
// for, and withholding every requested scope is invalid_scope naming them.
func TestClaimMappingExchange(t *testing.T) {
	ps := newIdPs(t)
	x := start(t, startOpts{policy: ps.policy("", explainRule)})
	const reports = "https://reports.example.com"
	sign := func(groups []string) string {
		c := ps.corp.Claims("alice", x.Issuer)
		c["dept"], c["groups"] = "finance", groups
		return ps.corp.Sign(c)
	}

	tr := x.post(t, request{form: exchangeForm(sign([]string{"admins"}), "audience", reports)}.as(orders))
	if tr.Status != http.StatusOK || tr.str("scope") != "reports.read reports.admin" {
		t.Fatalf("admin: %d %s", tr.Status, tr.Body)
	}
	_, claims := x.verifyMinted(t, tr.str("access_token"), x.Issuer, reports)
	if claims["department"] != "finance" || fmt.Sprint(claims["groups"]) != "[admins]" || claims["sub"] != "alice" {
		t.Errorf("minted claims = %v", claims)
	}

	tr = x.post(t, request{form: exchangeForm(sign([]string{"staff"}), "audience", reports)}.as(orders))
	if tr.Status != http.StatusOK || tr.str("scope") != "reports.read" {
		t.Fatalf("staff: %d %s", tr.Status, tr.Body)
	}

	tr = x.post(t, request{form: exchangeForm(sign([]string{"staff"}), "audience", reports, "scope", "reports.admin")}.as(orders))
	wantError(t, tr, http.StatusBadRequest, api.ErrInvalidScope, "scope conditions", "reports.admin")
	if strings.Contains(string(tr.Body), "'admins'") {
		t.Errorf("the error leaks the condition: %s", tr.Body)
	}

	// A condition over a claim of another type is false: groups as a string
	// withholds reports.admin, and the string is still copied.
	c := ps.corp.Claims("alice", x.Issuer)
	c["dept"], c["groups"] = "finance", "admins"
	tr = x.post(t, request{form: exchangeForm(ps.corp.Sign(c), "audience", reports)}.as(orders))
	if tr.Status != http.StatusOK || tr.str("scope") != "reports.read" {
		t.Fatalf("groups as a string: %d %s", tr.Status, tr.Body)
	}
	if _, claims := x.verifyMinted(t, tr.str("access_token"), x.Issuer, reports); claims["groups"] != "admins" || claims["dept_code"] != "d-finance" {
		t.Errorf("minted claims = %v", claims)
	}

	// A mapped claim its expression cannot compute (a number where a string
	// is added): invalid_request naming rule and claim, not the expression.
	c = ps.corp.Claims("alice", x.Issuer)
	c["dept"], c["groups"] = 42, []string{"staff"}
	tr = x.post(t, request{form: exchangeForm(ps.corp.Sign(c), "audience", reports)}.as(orders))
	wantError(t, tr, http.StatusBadRequest, api.ErrInvalidRequest, `"dept_code"`, `"orders-to-reports"`)
	if strings.Contains(string(tr.Body), "claims.dept") {
		t.Errorf("the error leaks the expression: %s", tr.Body)
	}
}
