package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokex/tokex/internal/keys"
)

// writeKeys writes a keys file generated at created, with mode 0640.
func writeKeys(t *testing.T, created time.Time, edit func(doc map[string]any)) string {
	t.Helper()
	s, err := keys.GenerateSet(keys.GenerateOptions{Now: created})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		edit(doc)
		if b, err = json.Marshal(doc); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

func setState(i int, state string) func(map[string]any) {
	return func(doc map[string]any) {
		doc["keys"].([]any)[i].(map[string]any)["tokex"].(map[string]any)["state"] = state
	}
}

// TestKeysRotateRefusals: rotate leaves the file untouched and exits 1 when
// the result would break validation.
func TestKeysRotateRefusals(t *testing.T) {
	long := time.Now().Add(-time.Hour)
	tests := []struct {
		name       string
		file       func(t *testing.T) string
		args       []string
		wantStderr string // the path or check that refused
	}{
		{name: "no active key", wantStderr: "keys: no key is active",
			file: func(t *testing.T) string { return writeKeys(t, long, setState(0, "retired")) }},
		{name: "two active keys", wantStderr: "keys[1].tokex.state",
			file: func(t *testing.T) string { return writeKeys(t, long, setState(1, "active")) }},
		{name: "unknown state", wantStderr: "keys[1].tokex.state",
			file: func(t *testing.T) string { return writeKeys(t, long, setState(1, "standby")) }},
		{name: "next key not published long enough", wantStderr: keys.ErrNextTooYoung.Error(),
			file: func(t *testing.T) string { return writeKeys(t, time.Now(), nil) }},
		{name: "private key missing", wantStderr: "keys[0].d",
			file: func(t *testing.T) string {
				return writeKeys(t, long, func(doc map[string]any) { delete(doc["keys"].([]any)[0].(map[string]any), "d") })
			}},
		{name: "corrupt file", wantStderr: "not valid JSON",
			file: func(t *testing.T) string {
				p := writeKeys(t, long, nil)
				b, _ := os.ReadFile(p)
				if err := os.WriteFile(p, b[:len(b)/3], 0o640); err != nil {
					t.Fatal(err)
				}
				return p
			}},
		{name: "empty file", wantStderr: "the file is empty",
			file: func(t *testing.T) string {
				p := writeKeys(t, long, nil)
				if err := os.WriteFile(p, nil, 0o640); err != nil {
					t.Fatal(err)
				}
				return p
			}},
		{name: "unsupported alg for the new key", args: []string{"--alg", "HS256"}, wantStderr: "unsupported algorithm",
			file: func(t *testing.T) string { return writeKeys(t, long, nil) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.file(t)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := run(context.Background(), append(append([]string{"keys", "rotate"}, tc.args...), path), &out, &errb)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr: %s", code, errb.String())
			}
			if !strings.Contains(errb.String(), tc.wantStderr) || !strings.Contains(errb.String(), "refusing to rotate") {
				t.Errorf("stderr lacks %q:\n%s", tc.wantStderr, errb.String())
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Error("a refused rotation changed the file")
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
				t.Errorf("%d files in the directory, want only the keys file", len(entries))
			}
		})
	}
}

func TestKeysRotate(t *testing.T) {
	path := writeKeys(t, time.Now().Add(-time.Hour), nil)
	old, err := keys.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"keys", "rotate", path, "--max-lifetime", "5m", "--leeway", "1m"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode %o, want the file's 640 kept", st.Mode().Perm())
	}
	s, err := keys.LoadFile(path)
	if err != nil {
		t.Fatalf("the rotated file does not load: %v", err)
	}
	states := map[string]keys.State{}
	for _, k := range s.Keys() {
		states[k.KID] = k.State
	}
	if states[old.Keys()[1].KID] != keys.StateActive || states[old.Active().KID] != keys.StateRetired || len(s.Keys()) != 3 || len(s.Published()) != 3 {
		t.Errorf("after rotation: %v", states)
	}
	for _, k := range s.Keys() {
		if k.State == keys.StateRetired {
			if d := time.Until(k.PublishUntil); d < 5*time.Minute || d > 6*time.Minute+time.Second {
				t.Errorf("publish_until is %s from now, want max lifetime + leeway = 6m", d)
			}
		}
	}
	if !strings.Contains(errb.String(), "the next rotation may run from") {
		t.Errorf("stderr: %s", errb.String())
	}
	// Straight away again: the new next key is too young.
	errb.Reset()
	if code := run(context.Background(), []string{"keys", "rotate", path}, &out, &errb); code != 1 {
		t.Errorf("second rotation right away: exit %d, want 1; %s", code, errb.String())
	}
}

func TestKeysGenerateAndPublic(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"keys", "generate", "--alg", "EdDSA", "--min-next", "4s"}, &out, &errb); code != 0 {
		t.Fatalf("generate: exit %d: %s", code, errb.String())
	}
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := keys.LoadFile(path)
	if err != nil {
		t.Fatalf("generated keys do not load: %v", err)
	}
	if len(s.Keys()) != 2 || s.Keys()[0].State != keys.StateActive || s.Keys()[1].State != keys.StateNext || s.MinNext() != 4*time.Second {
		t.Fatalf("generated: %d keys, min_next %s", len(s.Keys()), s.MinNext())
	}
	out.Reset()
	if code := run(context.Background(), []string{"keys", "public", path}, &out, &errb); code != 0 {
		t.Fatalf("public: exit %d: %s", code, errb.String())
	}
	if got := bytes.TrimSpace(out.Bytes()); !bytes.Equal(got, s.JWKS()) {
		t.Errorf("public printed %s, want %s", got, s.JWKS())
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || len(doc.Keys) != 2 {
		t.Fatalf("public JWKS: %v, %d keys", err, len(doc.Keys))
	}
	for _, k := range doc.Keys {
		if _, ok := k["d"]; ok {
			t.Error("public printed a private key")
		}
	}
}

func TestKeysUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{name: "unknown subcommand", args: []string{"keys", "delete"}},
		{name: "rotate without file", args: []string{"keys", "rotate"}},
		{name: "rotate two files", args: []string{"keys", "rotate", "a", "b"}},
		{name: "public without file", args: []string{"keys", "public"}},
		{name: "generate with a file", args: []string{"keys", "generate", "a"}},
		{name: "bad duration", args: []string{"keys", "rotate", "--max-lifetime", "soon", "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), tc.args, &out, &errb); code != 2 {
				t.Errorf("exit %d, want 2; stderr: %s", code, errb.String())
			}
		})
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"keys", "public", filepath.Join(t.TempDir(), "none.json")}, &out, &errb); code != 1 {
		t.Errorf("public of a missing file: exit %d, want 1", code)
	}
}
