package inspect

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// TestInspectMalformed: what is not strictly a JWT is still described as far
// as it can be; only what is no JWT at all is not a token (exit 2).
func TestInspectMalformed(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	hdr := b64([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims := b64([]byte(`{"iss":"https://idp.example.com","sub":"a","aud":"x","exp":1796403600}`))
	tests := []struct {
		name      string
		raw       string
		wantKind  string
		wantExit  int
		malformed string // in Malformed, "" for none
	}{
		{name: "strict", raw: hdr + "." + claims + ".c2ln", wantKind: KindJWT, wantExit: 0},
		{name: "surrounding whitespace and newline", raw: "  " + hdr + "." + claims + ".c2ln\n", wantKind: KindJWT, wantExit: 0},
		{name: "duplicate header member", raw: b64([]byte(`{"alg":"RS256","alg":"none"}`)) + "." + claims + ".c2ln", wantKind: KindJWT, wantExit: 1, malformed: "header: not strictly valid JSON"},
		{name: "standard base64 alphabet", raw: hdr + "." + base64.StdEncoding.EncodeToString([]byte(`{"iss":"https://idp.example.com","sub":"a?>","exp":1796403600}`)) + ".c2ln", wantKind: KindJWT, wantExit: 1, malformed: "claims: not unpadded base64url"},
		{name: "aud of numbers", raw: hdr + "." + b64([]byte(`{"sub":"a","aud":[1],"exp":1796403600}`)) + ".c2ln", wantKind: KindJWT, wantExit: 1, malformed: "aud must be a string or an array of strings"},
		{name: "exp a string", raw: hdr + "." + b64([]byte(`{"sub":"a","exp":"tomorrow"}`)) + ".c2ln", wantKind: KindJWT, wantExit: 1, malformed: "exp is not a NumericDate"},
		{name: "claims not JSON", raw: hdr + "." + b64([]byte(`not json`)) + ".c2ln", wantKind: KindJWT, wantExit: 1, malformed: "claims: could not be decoded"},
		{name: "claims an array", raw: hdr + "." + b64([]byte(`[1,2]`)) + ".c2ln", wantKind: KindJWT, wantExit: 1, malformed: "claims: could not be decoded"},
		{name: "signature not base64url", raw: hdr + "." + claims + ".!!!", wantKind: KindJWT, wantExit: 1, malformed: "signature: not base64url"},
		{name: "header not base64", raw: "!!!." + claims + ".c2ln", wantKind: KindOpaque, wantExit: 2, malformed: "first segment is not base64url"},
		{name: "header not JSON", raw: b64([]byte("hello")) + "." + claims + ".c2ln", wantKind: KindOpaque, wantExit: 2, malformed: "first segment is not a JSON object"},
		{name: "two segments", raw: hdr + "." + claims, wantKind: KindOpaque, wantExit: 2},
		{name: "empty", raw: "", wantKind: KindOpaque, wantExit: 2},
		{name: "JWE", raw: hdr + ".a.b.c.d", wantKind: KindJWE, wantExit: 1},
	}
	now := func() time.Time { return fixedNow }
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Inspect(context.Background(), tc.raw, Options{Now: now})
			if r.Kind != tc.wantKind || r.ExitCode() != tc.wantExit {
				t.Errorf("kind %s, exit %d; want %s, %d (%+v)", r.Kind, r.ExitCode(), tc.wantKind, tc.wantExit, r)
			}
			got := strings.Join(r.Malformed, "; ")
			if (tc.malformed == "") != (got == "") || !strings.Contains(got, tc.malformed) {
				t.Errorf("malformed = %q, want ~ %q", got, tc.malformed)
			}
		})
	}
}

// TestInspectTerminalSafe: claim text that a terminal would act on is
// replaced in the report.
func TestInspectTerminalSafe(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	raw := b64([]byte(`{"alg":"RS256","kid":"k\u001b[2J"}`)) + "." + b64([]byte(`{"iss":"https://sts.windows.net/t\u001b]0;x\u0007/","sub":"a\nb","aud":"\u009bx","exp":1796403600}`)) + ".c2ln"
	r := Inspect(context.Background(), raw, Options{Now: func() time.Time { return fixedNow }})
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b.String(), "\x1b\x07\u009b") || strings.Contains(b.String(), "a\nb") {
		t.Errorf("control characters reach the output:\n%q", b.String())
	}
}

// FuzzInspect: any input gives a report with a verdict and an exit code, and
// the report never holds a signature segment.
func FuzzInspect(f *testing.F) {
	b64 := base64.RawURLEncoding.EncodeToString
	f.Add(b64([]byte(`{"alg":"RS256"}`)) + "." + b64([]byte(`{"iss":"https://sts.windows.net/t/","act":{"act":{"sub":"x"}},"cnf":{"jkt":"j"}}`)) + ".c2lnbmF0dXJlLWJ5dGVz")
	f.Add("a.b.c.d.e")
	f.Add("ya29.x")
	f.Fuzz(func(t *testing.T, raw string) {
		r := Inspect(context.Background(), raw, Options{Issuer: "https://sts.example.com", Audience: "api://x", Now: func() time.Time { return fixedNow }})
		if r.Verdict == "" || r.ExitCode() < 0 || r.ExitCode() > 2 {
			t.Fatalf("verdict %q", r.Verdict)
		}
		var b strings.Builder
		if err := r.WriteText(&b); err != nil {
			t.Fatal(err)
		}
	})
}
