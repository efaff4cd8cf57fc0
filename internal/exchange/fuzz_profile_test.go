package exchange

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzContextObject holds contextObject (request_context, request_details)
// to encoding/json: what it accepts is one JSON object of at most
// MaxContextBytes that encoding/json reads to the same value; whatever it
// refuses is an invalid_parameter refusal that never echoes the input.
func FuzzContextObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"req_ip":"203.0.113.7"}`, `{"a":{"b":[1,2,null]}}`, `[]`, `"x"`, `{"a":1,"a":2}`, `{"a":1} {}`, `{"\ud800":1}`, "{\"a\":\"\xff\"}", `{"a":1e999}`, ` {"a":1} `} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := contextObject("request_context", raw)
		if err != nil {
			xe, ok := err.(*Error)
			if !ok || xe.Reason != "invalid_parameter" {
				t.Fatalf("%q: refusal %v is not invalid_parameter", raw, err)
			}
			if len(raw) > 16 && strings.Contains(xe.Description, raw) {
				t.Fatalf("%q: the description echoes the input", raw)
			}
			return
		}
		if raw == "" {
			if got != nil {
				t.Fatalf("empty: got %v", got)
			}
			return
		}
		if len(raw) > MaxContextBytes {
			t.Fatalf("%d bytes accepted", len(raw))
		}
		var want map[string]any
		if err := json.Unmarshal([]byte(raw), &want); err != nil || want == nil {
			t.Fatalf("%q accepted; encoding/json: %v", raw, err)
		}
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(want)
		if string(a) != string(b) {
			t.Fatalf("%q read as %s, encoding/json reads %s", raw, a, b)
		}
	})
}
