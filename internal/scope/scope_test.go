package scope_test

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tokex/tokex/internal/scope"
)

func TestParse(t *testing.T) {
	many := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString("s")
			b.WriteString(strings.Repeat("x", i%7))
			b.WriteByte(byte('a' + i%26))
			b.WriteString(string(rune('A' + i/26%26)))
		}
		return b.String()
	}
	tests := []struct {
		name     string
		in       string
		want     []string
		wantKind scope.Kind // 0: no error
	}{
		{name: "empty is absent", in: "", want: nil},
		{name: "spaces only are absent", in: "   ", want: nil},
		{name: "one", in: "inventory.read", want: []string{"inventory.read"}},
		{name: "two", in: "a b", want: []string{"a", "b"}},
		{name: "trailing space tolerated", in: "a b ", want: []string{"a", "b"}},
		{name: "leading space tolerated", in: " a b", want: []string{"a", "b"}},
		{name: "duplicate counts once, first order kept", in: "b a b a", want: []string{"b", "a"}},
		{name: "grammar edges", in: "! # [ ] ~ api://x/.default", want: []string{"!", "#", "[", "]", "~", "api://x/.default"}},
		{name: "runs of spaces tolerated", in: "  a   b  ", want: []string{"a", "b"}},
		{name: "many spaces, few values", in: "a" + strings.Repeat(" ", 5000) + "b", want: []string{"a", "b"}},
		{name: "tab is not a separator", in: "a\tb", wantKind: scope.BadChar},
		{name: "nbsp is not a separator", in: "a\u00a0b", wantKind: scope.BadChar},
		{name: "double quote", in: `a"b`, wantKind: scope.BadChar},
		{name: "backslash", in: `a\b`, wantKind: scope.BadChar},
		{name: "control byte", in: "a\x00", wantKind: scope.BadChar},
		{name: "DEL", in: "a\x7f", wantKind: scope.BadChar},
		{name: "newline", in: "a\nb", wantKind: scope.BadChar},
		{name: "non-ASCII letter", in: "lecture.é", wantKind: scope.BadChar},
		{name: "at the cap", in: many(scope.MaxTokens), want: strings.Split(many(scope.MaxTokens), " ")},
		{name: "one over the cap", in: many(scope.MaxTokens + 1), wantKind: scope.TooMany},
		{name: "over the cap by duplicates", in: strings.Repeat("a ", scope.MaxTokens) + "a", wantKind: scope.TooMany},
		{name: "10000 scopes", in: many(10000), wantKind: scope.TooMany},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scope.Parse(tc.in)
			var se *scope.Error
			switch {
			case tc.wantKind == 0 && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantKind != 0 && !errors.As(err, &se):
				t.Fatalf("got %q, %v; want a *scope.Error of kind %d", got, err, tc.wantKind)
			case tc.wantKind != 0 && se.Kind != tc.wantKind:
				t.Fatalf("kind %d (%s), want %d", se.Kind, se.Description, tc.wantKind)
			case !slices.Equal(got, tc.want):
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestTooManySaysTheLimit: the refusal states the cap, so a client knows what to change.
func TestTooManySaysTheLimit(t *testing.T) {
	_, err := scope.Parse(strings.Repeat("a ", 200) + "b")
	if err == nil || !strings.Contains(err.Error(), "100") {
		t.Fatalf("got %v, want the limit in the description", err)
	}
}

func TestValid(t *testing.T) {
	for tok, want := range map[string]bool{"orders.read": true, "": false, "a b": false, "a\tb": false, `"`: false, "ü": false} {
		if got := scope.Valid(tok); got != want {
			t.Errorf("Valid(%q) = %v, want %v", tok, got, want)
		}
	}
}

// FuzzParse: whatever the input, Parse returns valid tokens, each once, no
// more of them than MaxTokens and no more bytes than it was given; what it
// returns parses back to itself; and only duplicates are dropped.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", " ", "a", "a b", "a  b", " a b ", "a\tb", "a\u00a0b", "a a", `a"b`, "api://x/.default openid", strings.Repeat(" ", 200) + "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := scope.Parse(in)
		if err != nil {
			var se *scope.Error
			if !errors.As(err, &se) || se.Kind == 0 {
				t.Fatalf("error %v is not a *scope.Error with a kind", err)
			}
			return
		}
		if len(got) > scope.MaxTokens {
			t.Fatalf("%d tokens, more than %d", len(got), scope.MaxTokens)
		}
		total, seen := 0, map[string]bool{}
		for _, tok := range got {
			if !scope.Valid(tok) {
				t.Fatalf("token %q is not a scope-token", tok)
			}
			if seen[tok] {
				t.Fatalf("token %q returned twice", tok)
			}
			seen[tok] = true
			total += len(tok)
		}
		if total > len(in) {
			t.Fatalf("%d bytes of tokens from %d bytes of input", total, len(in))
		}
		for _, tok := range strings.Fields(in) {
			if !seen[tok] {
				t.Fatalf("token %q of the input was dropped", tok)
			}
		}
		again, err := scope.Parse(strings.Join(got, " "))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("round trip: %q, %v; want %q", again, err, got)
		}
	})
}

// BenchmarkParse: 10,000 scopes are refused by one count, before any
// splitting; compare with 10 accepted ones.
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{10, 10000} {
		toks := make([]string, n)
		for i := range toks {
			toks[i] = "scope." + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26))
		}
		in := strings.Join(toks, " ")
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				_, _ = scope.Parse(in)
			}
		})
	}
}
