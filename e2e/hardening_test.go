package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokex/tokex/api"
)

// TestBodyOverCapAnsweredAtOnce (issue 12, finding 8): a request declaring a
// Content-Length over TOKEX_MAX_BODY_BYTES and sending no body is answered
// 413 invalid_request with Connection: close. The read timeout is the longest
// tokex allows, so an answer at all shows tokex did not wait for the body;
// the context deadline is only a safety net.
func TestBodyOverCapAnsweredAtOnce(t *testing.T) {
	p := newIdPs(t)
	x := start(t, startOpts{policy: p.policy("", ""), env: []string{"TOKEX_READ_TIMEOUT=10m", "TOKEX_MAX_BODY_BYTES=65536"}})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", strings.TrimPrefix(x.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	req := "POST /token HTTP/1.1\r\nHost: tokex\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1073741824\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer without the body: %v", err)
	}
	defer resp.Body.Close()
	var e api.ErrorResponse
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("error body: %v", err)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge || e.Error != api.ErrInvalidRequest {
		t.Errorf("got %d %q, want 413 invalid_request", resp.StatusCode, e.Error)
	}
	if !resp.Close || !strings.Contains(e.ErrorDescription, "65536") {
		t.Errorf("Connection %q, description %q: want close and the limit", resp.Header.Get("Connection"), e.ErrorDescription)
	}
}

// TestScopeParameterRefusals (issue 12, finding 4): the scope parameter is
// read by RFC 6749 §3.3 (space-separated scope-tokens) with a cap on
// the number of values; anything else is 400 invalid_scope, never a 5xx,
// and a request of many scopes is refused rather than downscoped value by
// value. The body cap is the largest tokex allows.
func TestScopeParameterRefusals(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	x := start(t, startOpts{policy: up.policy("", ""), env: []string{"TOKEX_MAX_BODY_BYTES=1048576"}})
	many := func(n int) string {
		toks := make([]string, n)
		for i := range toks {
			toks[i] = fmt.Sprintf("u%06d", i)
		}
		return strings.Join(toks, " ")
	}
	for _, tc := range []struct {
		name, scope string
		desc        string // a fragment of the description
	}{
		{name: "10,000 distinct unknown scopes", scope: "inventory.read " + many(9999), desc: "at most 100"},
		{name: "100,000 scopes near the body cap", scope: many(100000), desc: "at most 100"},
		{name: "TAB as separator", scope: "inventory.read\tinventory.write", desc: "0x09"},
		{name: "NBSP as separator", scope: "inventory.read\u00a0inventory.write", desc: "0xC2"},
		{name: "double quote", scope: `inventory.read "x"`, desc: "0x22"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := up.corp.Sign(up.corp.Claims("alice", x.Issuer))
			r := x.post(t, request{form: exchangeForm(tok, "audience", audInventory, "scope", tc.scope)}.as(orders))
			wantError(t, r, http.StatusBadRequest, api.ErrInvalidScope, tc.desc)
		})
	}
	t.Run("many spaces, few values", func(t *testing.T) {
		tok := up.corp.Sign(up.corp.Claims("alice", x.Issuer))
		r := x.post(t, request{form: exchangeForm(tok, "audience", audInventory, "scope", "inventory.read"+strings.Repeat(" ", 500)+"inventory.write ")}.as(orders))
		if r.Status != http.StatusOK || r.str("scope") != "inventory.read inventory.write" {
			t.Fatalf("got %d %s, want 200 with both scopes", r.Status, clip(string(r.Body), 300))
		}
	})
}

// TestSubjectOverlapRefused (issue 12, finding 6): corp (no subject_prefix)
// and partner (subject_prefix "p2:") both reach the inventory audience, so
// corp's "p2:alice" and partner's "alice" would be one sub there. tokex serve
// refuses to start and tokex policy check fails, naming both issuers' paths
// and the audience; allow_subject_overlap turns it into a warning, and
// distinct prefixes fix it.
func TestSubjectOverlapRefused(t *testing.T) {
	t.Parallel()
	ps := newIdPs(t)
	dir := t.TempDir()
	base := ps.policy("", "")("https://sts.example.com")
	overlap := strings.Replace(base, "allow_subject_overlap: true\n", "", 1)
	overlap = strings.Replace(overlap, "    token_types: [access_token]\n", "    token_types: [access_token]\n    subject_prefix: \"p2:\"\n", 1)
	write := func(name, doc string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	refused := write("overlap.yaml", overlap)
	wants := []string{"issuers[1].subject_prefix", "issuers[0].subject_prefix", audInventory, "allow_subject_overlap"}

	code, _, stderr := runTokex(t, "TOKEX_CONFIG="+refused)
	if code == 0 {
		t.Fatal("tokex serve started with issuers that can mint the same sub")
	}
	code, out, _ := runCommand(t, "", "policy", "check", refused)
	if code != 1 {
		t.Errorf("policy check: exit %d, want 1\n%s", code, out)
	}
	for _, w := range wants {
		if !strings.Contains(stderr, w) || !strings.Contains(out, w) {
			t.Errorf("serve or policy check does not name %q:\nserve:\n%s\npolicy check:\n%s", w, stderr, out)
		}
	}

	allowed := write("allowed.yaml", "allow_subject_overlap: true\n"+overlap)
	if code, out, _ := runCommand(t, "", "policy", "check", allowed); code != 0 || !strings.Contains(out, "warnings: 1") || !strings.Contains(out, "issuers[1].subject_prefix") {
		t.Errorf("allow_subject_overlap: exit %d, want 0 and the overlap as a warning\n%s", code, out)
	}
	fixed := write("fixed.yaml", strings.Replace(overlap, "    leeway: 5s\n", "    leeway: 5s\n    subject_prefix: \"corp:\"\n", 1))
	if code, out, _ := runCommand(t, "", "policy", "check", fixed); code != 0 || !strings.Contains(out, "warnings: 0") {
		t.Errorf("distinct prefixes: exit %d, want 0 and no warning\n%s", code, out)
	}
}
