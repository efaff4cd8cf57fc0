package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokex/tokex/internal/demo"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPolicyCheck(t *testing.T) {
	idp, err := demo.New("https://sts.example.com", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := idp.Policy()
	if err != nil {
		t.Fatal(err)
	}
	good := writeFile(t, "good.yaml", string(doc))
	// Two rules for the same (client, issuer, audience): valid, with a warning.
	shadowed := writeFile(t, "shadowed.yaml", string(doc)+`  - name: shadowed
    clients: [demo-client]
    issuers: [demo-idp]
    audience: https://orders.example.com
    scopes: [orders.read]
`)
	bad := writeFile(t, "bad.yaml", "issuer: https://sts.example.com\nissuers:\n  - name: corp\n    issuer_url: https://idp.example.com\n    algorithms: [HS256]\nclients:\n  - id: a\n    secret_sha256: nothex\nrules:\n  - name: r\n    clients: [a]\n    issuers: [corp]\n    scopes: [x]\n    lifetim: 5m\n    claims: {sub: claims.email}\n    scope_conditions: {y: 'true'}\n")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
		wantErr  string
	}{
		{name: "valid", args: []string{"policy", "check", good}, wantCode: 0,
			wantOut: []string{good + ": valid", "issuers:  1 (demo-idp)", "clients:  2 (demo-client, demo-dpop-client)", "rules:    2 (demo-orders, demo-orders-dpop)", "warnings: 0"}},
		{name: "valid with a warning", args: []string{"policy", "check", shadowed}, wantCode: 0,
			wantOut: []string{"rules:    3 (demo-orders, demo-orders-dpop, shadowed)", "warnings: 1", `rules[2] (shadowed)`}},
		{name: "every problem", args: []string{"policy", "check", bad}, wantCode: 1,
			wantOut: []string{bad, "rules[0].lifetim", "rules[0].audience", "issuers[0].algorithms[0]", "clients[0].secret_sha256", "rules[0].claims.sub", "rules[0].scope_conditions.y", "(line "}},
		{name: "missing file", args: []string{"policy", "check", filepath.Join(t.TempDir(), "nope.yaml")}, wantCode: 1, wantOut: []string{"no such file"}},
		{name: "no file", args: []string{"policy", "check"}, wantCode: 2, wantErr: "usage: tokex policy check FILE"},
		{name: "no subcommand", args: []string{"policy"}, wantCode: 2, wantErr: "usage: tokex policy check FILE"},
		{name: "two files", args: []string{"policy", "check", good, good}, wantCode: 2, wantErr: "usage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errb)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, out.String(), errb.String())
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			if !strings.Contains(errb.String(), tc.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantErr, errb.String())
			}
		})
	}
}

func TestExplainUsage(t *testing.T) {
	bad := writeFile(t, "bad.yaml", "issuer: nope\n")
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "no flags", args: []string{"explain"}, wantErr: "usage: tokex explain"},
		{name: "no token", args: []string{"explain", "--config", bad}, wantErr: "usage: tokex explain"},
		{name: "bad flag", args: []string{"explain", "--nope"}, wantErr: "flag provided but not defined"},
		{name: "bad token type", args: []string{"explain", "--config", bad, "--token", "x.y.z", "--token-type", "saml"}, wantErr: `--token-type "saml"`},
		{name: "bad policy", args: []string{"explain", "--config", bad, "--token", "x.y.z"}, wantErr: "issuers"},
		{name: "empty stdin", args: []string{"explain", "--config", bad, "--token", "-"}, wantErr: "no token read"},
		{name: "missing token file", args: []string{"explain", "--config", bad, "--token", "@" + filepath.Join(t.TempDir(), "none")}, wantErr: "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TOKEX_CONFIG", "")
			var out, errb bytes.Buffer
			if code := run(context.Background(), tc.args, &out, &errb); code != 2 {
				t.Errorf("exit %d, want 2\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
			}
			if !strings.Contains(errb.String(), tc.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantErr, errb.String())
			}
		})
	}
}
