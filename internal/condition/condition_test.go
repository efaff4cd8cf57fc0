package condition_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/tokex/tokex/internal/condition"
)

func TestEval(t *testing.T) {
	env, err := condition.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"tid": "t1", "roles": []any{"a", "b"}, "n": float64(2), "nested": map[string]any{"k": true}}
	tests := []struct {
		name      string
		expr      string
		want      any
		wantNoKey bool
		wantErr   bool
	}{
		{name: "string", expr: "claims.tid", want: "t1"},
		{name: "list", expr: "claims.roles", want: []any{"a", "b"}},
		{name: "map", expr: "claims.nested", want: map[string]any{"k": true}},
		{name: "int", expr: "size(claims.roles)", want: int64(2)},
		{name: "double", expr: "claims.n / 4.0", want: 0.5},
		{name: "bool", expr: "'a' in claims.roles", want: true},
		{name: "null", expr: "null", want: nil},
		{name: "built map", expr: `{"t": claims.tid, "r": claims.roles.map(r, r + "!")}`, want: map[string]any{"t": "t1", "r": []any{"a!", "b!"}}},
		{name: "timestamp", expr: `timestamp("2026-01-02T03:04:05Z")`, want: "2026-01-02T03:04:05Z"},
		{name: "missing key", expr: "claims.email", wantNoKey: true},
		{name: "missing nested key", expr: "claims.nested.x", wantNoKey: true},
		{name: "type error", expr: "claims.tid + 1", wantErr: true},
		{name: "non-string map key", expr: "{1: 2}", wantErr: true},
		{name: "infinity", expr: "1.0 / 0.0", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prg, err := condition.CompileValue(env, tc.expr)
			if err != nil {
				t.Fatalf("CompileValue: %v", err)
			}
			got, err := condition.Eval(context.Background(), prg, claims)
			switch {
			case tc.wantNoKey:
				if !errors.Is(err, condition.ErrNoSuchKey) {
					t.Fatalf("err = %v, want ErrNoSuchKey", err)
				}
			case tc.wantErr:
				if err == nil || errors.Is(err, condition.ErrNoSuchKey) {
					t.Fatalf("Eval = %#v, %v; want an error other than ErrNoSuchKey", got, err)
				}
			case err != nil:
				t.Fatalf("Eval: %v", err)
			case !reflect.DeepEqual(got, tc.want):
				t.Errorf("Eval = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestCompile(t *testing.T) {
	env, err := condition.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		expr    string
		value   bool // CompileValue instead of Compile
		wantErr bool
	}{
		{name: "condition", expr: `claims.tid == "t1"`},
		{name: "dyn condition", expr: `claims.admin`},
		{name: "condition not bool", expr: `"x"`, wantErr: true},
		{name: "syntax", expr: `claims.tid ==`, wantErr: true},
		{name: "unknown variable", expr: `request.tid`, wantErr: true},
		{name: "value string", expr: `claims.tid`, value: true},
		{name: "value bytes", expr: `b"x"`, value: true, wantErr: true},
		{name: "value type", expr: `type(1)`, value: true, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			compile := condition.Compile
			if tc.value {
				compile = condition.CompileValue
			}
			_, err := compile(env, tc.expr)
			if (err != nil) != tc.wantErr {
				t.Errorf("err = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}
