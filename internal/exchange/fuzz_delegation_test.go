package exchange

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/mint"
)

// The act and may_act claims reach chain and mayAct as encoding/json decodes
// them (issuer.Principal.Claims). The references below read them as RFC 8693
// §4.1 and §4.4 describe: an object whose sub is a non-empty string and
// whose iss, if present, is a string. A member of another type (sub or iss
// null, a number, an array, an object) is malformed and refused, never
// skipped. A nested act of null ends the chain.

// refChain is the chain an act claim v gives, at most max actors deep, or
// false when v must be refused.
func refChain(v any, max int) (*mint.Act, bool) {
	if v == nil {
		return nil, true
	}
	m, ok := v.(map[string]any)
	if !ok || max <= 0 {
		return nil, false
	}
	sub, ok := m["sub"].(string)
	if !ok || sub == "" {
		return nil, false
	}
	iss, ok := m["iss"].(string)
	if _, present := m["iss"]; !ok && present {
		return nil, false
	}
	next, ok := refChain(m["act"], max-1)
	if !ok {
		return nil, false
	}
	return &mint.Act{Sub: sub, Iss: iss, Act: next}, true
}

// refMayAct reports whether may_act v names the actor sub of issuer iss.
func refMayAct(v any, sub, iss string) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	s, ok := m["sub"].(string)
	if !ok || s == "" || s != sub {
		return false
	}
	raw, present := m["iss"]
	if !present {
		return true
	}
	i, ok := raw.(string)
	return ok && i == iss
}

// FuzzChain holds chain to refChain: the same chain when the reference
// takes the act claim, a malformed_act or delegation_too_deep refusal
// (and no chain) when it does not.
func FuzzChain(f *testing.F) {
	f.Fuzz(func(t *testing.T, doc string, depth uint8) {
		var v any
		if json.Unmarshal([]byte(doc), &v) != nil {
			return
		}
		max := int(depth%6) + 1
		got, err := chain(v, max)
		want, ok := refChain(v, max)
		if err != nil {
			var xe *Error
			if !errors.As(err, &xe) || (xe.Reason != "malformed_act" && xe.Reason != "delegation_too_deep") {
				t.Fatalf("act %s: refusal %v is not malformed_act or delegation_too_deep", doc, err)
			}
			if got != nil {
				t.Fatalf("act %s: refused, with a chain %+v", doc, got)
			}
			if ok {
				t.Fatalf("act %s (max %d): refused (%s), the reference takes it: %+v", doc, max, xe.Reason, want)
			}
			return
		}
		if !ok {
			t.Fatalf("act %s (max %d): accepted as %+v; it must be refused (RFC 8693 §4.1: sub and iss are strings)", doc, max, got)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("act %s: chain %+v, want %+v", doc, got, want)
		}
		if d := got.Depth(); d > max {
			t.Fatalf("act %s: chain %d deep, max %d", doc, d, max)
		}
	})
}

// FuzzMayAct holds mayAct to refMayAct for an actor with subject sub of
// issuer iss.
func FuzzMayAct(f *testing.F) {
	f.Fuzz(func(t *testing.T, doc, sub, iss string) {
		var v any
		if json.Unmarshal([]byte(doc), &v) != nil {
			return
		}
		err := mayAct(v, &issuer.Principal{Subject: sub, IssuerURL: iss})
		want := refMayAct(v, sub, iss)
		if err != nil {
			var xe *Error
			if !errors.As(err, &xe) || (xe.Reason != "malformed_may_act" && xe.Reason != "may_act_mismatch") {
				t.Fatalf("may_act %s: refusal %v is not malformed_may_act or may_act_mismatch", doc, err)
			}
			if want {
				t.Fatalf("may_act %s, actor %q of %q: refused (%s), the reference takes it", doc, sub, iss, xe.Reason)
			}
			return
		}
		if !want {
			t.Fatalf("may_act %s, actor %q of %q: accepted; it must be refused (RFC 8693 §4.4: sub and iss are strings, and name the actor)", doc, sub, iss)
		}
	})
}
