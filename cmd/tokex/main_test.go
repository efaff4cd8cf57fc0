package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokex/tokex/internal/keys"
)

func TestRunCommands(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "version", args: []string{"version"}, wantCode: 0, wantStdout: "tokex dev"},
		{name: "no command", args: nil, wantCode: 2, wantStderr: "usage: tokex"},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: 2, wantStderr: `unknown command "frobnicate"`},
		{name: "keys without subcommand", args: []string{"keys"}, wantCode: 2, wantStderr: "usage: tokex keys generate"},
		{name: "keys generate HMAC refused", args: []string{"keys", "generate", "--alg", "HS256"}, wantCode: 1, wantStderr: "unsupported algorithm"},
		{name: "inspect not a token", args: []string{"inspect", "not-a-jwt"}, wantCode: 2, wantStdout: "verdict: not a token"},
		{name: "inspect without a token", args: []string{"inspect"}, wantCode: 2, wantStderr: "no token read"},
		{name: "help lists inspect", args: []string{"help"}, wantCode: 0, wantStdout: "inspect [--issuer URL]"},
		{name: "serve bad flag", args: []string{"serve", "--nope"}, wantCode: 2, wantStderr: "flag provided but not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errb)
			if code != tc.wantCode || !strings.Contains(out.String(), tc.wantStdout) || !strings.Contains(errb.String(), tc.wantStderr) {
				t.Errorf("run(%q) = %d\nstdout: %s\nstderr: %s", tc.args, code, out.String(), errb.String())
			}
		})
	}
}

// TestKeysGenerateLoads: what `keys generate` prints is a keys file tokex loads.
func TestKeysGenerateLoads(t *testing.T) {
	for _, alg := range []string{keys.ES256, keys.EdDSA, keys.RS256} {
		t.Run(alg, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), []string{"keys", "generate", "--alg", alg}, &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			path := filepath.Join(t.TempDir(), "keys.json")
			if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			ks, err := keys.LoadFile(path)
			if err != nil {
				t.Fatalf("generated keys do not load: %v", err)
			}
			if ks.Active().Alg != alg {
				t.Errorf("alg = %s, want %s", ks.Active().Alg, alg)
			}
		})
	}
}

// TestServeRefusesBadPolicy: every problem is reported, with the file and key paths.
func TestServeRefusesBadPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	bad := "issuer: https://sts.example.com\nissuers:\n  - name: corp\n    issuer_url: https://idp.example.com\n    algorithms: [HS256]\nclients:\n  - id: a\n    secret_sha256: nothex\nrules:\n  - name: r\n    clients: [a]\n    issuers: [corp]\n    scopes: [x]\n    lifetim: 5m\n    require: 'claims.tid ==== 1'\n"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOKEX_CONFIG", path)
	t.Setenv("TOKEX_ADDR", "127.0.0.1:0")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"serve"}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1; stderr: %s", code, errb.String())
	}
	// An unknown key does not hide the other problems: all are reported at once.
	for _, want := range []string{path, "rules[0].lifetim", "rules[0].audience", "issuers[0].algorithms[0]", "clients[0].secret_sha256", "rules[0].require", "refusing to start"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}
