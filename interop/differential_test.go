package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/testidp/variants"
)

// diffPolicy is what both verifiers check: the same issuer, audience,
// algorithms, leeway, required claims and clock.
var diffPolicy = variants.Policy{
	Issuer:   "https://idp.diff.example",
	Audience: "https://sts.diff.example",
	Subject:  "alice",
	Now:      time.Unix(1790000000, 0), // 2026-09-21T14:13:20Z
	Leeway:   30 * time.Second,
}

// verdict is one verifier's answer to one token.
type verdict struct {
	OK      bool   `json:"ok"`
	Code    string `json:"code"`    // jose's error code, or tokex's issuer.Reason
	Message string `json:"message"` // jose's message, or tokex's Description
}

// TestDifferentialJose runs thousands of generated token variants (package
// variants: header, claims, segment, encoding and signature mutations of a
// valid RS256 or ES256 token) through tokex's issuer.Registry.Verify and
// through panva's jose (node/differential.mjs), with the same keys and
// policy. It fails where tokex accepts what jose refuses, and where tokex
// accepts a variant a rule says must be refused (Variant.Refuse; jose may be
// laxer there, as with whitespace in a segment, which Node 20's atob skips).
// Where tokex alone refuses, the cases are listed with tokex's reason: tokex
// is stricter by design (typ, key headers, crit, duplicate names, kid types,
// ID token tells, sub type, token size).
//
// Reproduce a run with TOKEX_DIFF_SEED and TOKEX_DIFF_N (defaults
// variants.DefaultSeed, variants.DefaultN); variant i depends only on the
// seed and i.
func TestDifferentialJose(t *testing.T) {
	node, dir := nodeSetup(t)
	seed, n, err := variants.Params(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := variants.NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := keys.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	vs := variants.Generate(seed, n, keys, diffPolicy)
	tokens := make([]string, len(vs))
	for i, v := range vs {
		tokens[i] = v.Token
	}
	ours := tokexVerdicts(t, jwks, tokens)
	theirs := joseVerdicts(t, node, dir, jwks, tokens)
	t.Logf("seed %#x, %d variants (%d pinned), generated and verified twice in %s", seed, n, variants.Pinned(), time.Since(start).Round(time.Millisecond))

	for i := range 2 {
		if !ours[i].OK || !theirs[i].OK {
			t.Fatalf("the valid token %d (%s) is not accepted by both: tokex %+v, jose %+v; the setup is broken", i, vs[i].Desc, ours[i], theirs[i])
		}
	}
	var laxer, mustRefuse, stricter []int
	agree := map[bool]int{}
	for i, v := range vs {
		switch a, b := ours[i], theirs[i]; {
		case a.OK && !b.OK:
			laxer = append(laxer, i)
		case a.OK && v.Refuse != "":
			mustRefuse = append(mustRefuse, i)
		case !a.OK && b.OK:
			stricter = append(stricter, i)
		default:
			agree[a.OK]++
		}
	}
	t.Logf("both accept %d, both refuse %d, tokex alone refuses %d, tokex alone accepts %d, both accept what must be refused %d",
		agree[true], agree[false], len(stricter), len(laxer), len(mustRefuse))

	if len(laxer) > 0 {
		t.Error(report(vs, laxer, "tokex accepts, jose refuses", seed, n,
			func(i int) string { return "jose: " + theirs[i].Code + ": " + theirs[i].Message },
			func(i int) string {
				if vs[i].Refuse != "" {
					return "must be refused: " + vs[i].Refuse
				}
				return ""
			}))
	}
	if len(mustRefuse) > 0 {
		t.Error(report(vs, mustRefuse, "tokex and jose accept what must be refused", seed, n,
			func(i int) string { return "must be refused: " + vs[i].Refuse },
			func(int) string { return "" }))
	}
	if len(stricter) > 0 && testing.Verbose() {
		t.Log(report(vs, stricter, "tokex refuses, jose accepts (tokex is stricter; not a failure)", seed, n,
			func(i int) string { return "tokex: " + ours[i].Code },
			func(i int) string { return ours[i].Message }))
	}
}

// report lists the variants idx by class (what the verifiers said), and
// within a class by the kinds of their mutations, with up to three examples
// per class.
func report(vs []variants.Variant, idx []int, title string, seed uint64, n int, class, detail func(i int) string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s: %d variants (TOKEX_DIFF_SEED=%#x TOKEX_DIFF_N=%d)\n", title, len(idx), seed, n)
	for _, c := range groupBy(idx, class) {
		fmt.Fprintf(&sb, "  %d  %s\n      by mutation:", len(c.idx), c.key)
		kinds := groupBy(c.idx, func(i int) string { return strings.Join(kindsOf(vs[i]), "+") })
		for k, g := range kinds {
			if k == 8 {
				fmt.Fprintf(&sb, " (%d more)", len(kinds)-k)
				break
			}
			fmt.Fprintf(&sb, " %s x%d", g.key, len(g.idx))
		}
		sb.WriteByte('\n')
		for _, i := range c.idx[:min(3, len(c.idx))] {
			fmt.Fprintf(&sb, "      #%d %s; token %.20q...\n", i, vs[i].Desc, vs[i].Token)
			if d := detail(i); d != "" {
				fmt.Fprintf(&sb, "         %s\n", d)
			}
		}
	}
	return sb.String()
}

type group struct {
	key string
	idx []int
}

// groupBy groups idx by key, largest group first.
func groupBy(idx []int, key func(i int) string) []group {
	m := map[string][]int{}
	for _, i := range idx {
		m[key(i)] = append(m[key(i)], i)
	}
	var out []group
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, group{k, m[k]})
	}
	slices.SortStableFunc(out, func(a, b group) int { return len(b.idx) - len(a.idx) })
	return out
}

// kindsOf is a variant's mutation kinds, sorted and without repeats.
func kindsOf(v variants.Variant) []string {
	return slices.Compact(slices.Sorted(slices.Values(v.Kinds)))
}

// tokexVerdicts verifies tokens with an issuer.Registry holding one issuer
// of the keys in jwks, configured as diffPolicy says, at diffPolicy.Now.
func tokexVerdicts(t *testing.T, jwks []byte, tokens []string) []verdict {
	t.Helper()
	var inline any
	if err := json.Unmarshal(jwks, &inline); err != nil {
		t.Fatal(err)
	}
	lw := config.Duration(diffPolicy.Leeway)
	reg := issuer.NewRegistry([]config.Issuer{{
		Name: "diff", IssuerURL: diffPolicy.Issuer, JWKS: inline,
		Audiences: []string{diffPolicy.Audience}, Algorithms: []string{"RS256", "ES256"},
		TokenTypes: []string{config.TokenTypeAccessToken, config.TokenTypeJWT}, Leeway: &lw,
	}}, issuer.Options{Now: func() time.Time { return diffPolicy.Now }})
	defer reg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !reg.WaitReady(ctx) {
		t.Fatalf("registry not ready: %v", reg.Status())
	}
	out := make([]verdict, len(tokens))
	for i, tok := range tokens {
		p, err := reg.Verify(ctx, tok, config.TokenTypeAccessToken)
		var ie *issuer.Error
		switch {
		case err == nil && p != nil:
			out[i] = verdict{OK: true}
		case errors.As(err, &ie):
			out[i] = verdict{Code: string(ie.Reason), Message: ie.Description}
		default:
			t.Fatalf("variant %d: Verify returned %v, %v: neither a Principal nor an *issuer.Error", i, p, err)
		}
	}
	return out
}

// joseVerdicts runs node/differential.mjs once over all tokens.
func joseVerdicts(t *testing.T, node, dir string, jwks []byte, tokens []string) []verdict {
	t.Helper()
	in, err := json.Marshal(map[string]any{
		"jwks":           json.RawMessage(jwks),
		"issuer":         diffPolicy.Issuer,
		"audience":       diffPolicy.Audience,
		"algorithms":     []string{"RS256", "ES256"},
		"clockTolerance": diffPolicy.Leeway.Seconds(),
		"currentDate":    diffPolicy.Now.Unix(),
		"requiredClaims": []string{"exp", "sub"},
		"tokens":         tokens,
	})
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, node, "differential.mjs")
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node differential.mjs: %v\nstderr:\n%s", err, stderr.String())
	}
	var out []verdict
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out) != len(tokens) {
		t.Fatalf("node differential.mjs: %d verdicts for %d tokens, decode error %v\nstderr:\n%s", len(out), len(tokens), err, stderr.String())
	}
	return out
}
