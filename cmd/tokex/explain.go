package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/exchange"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/mint"
	"github.com/tokex/tokex/internal/policy"
)

const explainUsage = `usage: tokex explain --config FILE --token JWT|-|@FILE [--client ID | --unauthenticated] [--audience URL] [--scope "S ..."] [--token-type access_token|jwt|id_token] [--actor-token JWT|@FILE --actor-token-type T] [--dpop-jkt JKT] [--cert-x5t X5T] [--grant token-exchange|jwt-bearer] [--requested-token-type access_token|txn_token|id-jag] [--resource URI] [--request-context JSON] [--request-details JSON] [--json]

Runs the whole exchange without signing and prints every check with pass/fail,
the rule matched and the claims the token would carry. --token - reads the
token from stdin, --token @FILE from a file (keeps it out of shell history).
--actor-token explains a delegation (RFC 8693 actor_token); --unauthenticated
a caller without client credentials (rules with allow_unauthenticated).
--dpop-jkt and --cert-x5t say what key the caller would prove (a DPoP proof's
key thumbprint, a client certificate's): the binding step shows what the rule
requires, what the subject token is bound to and what the token would carry.
--grant jwt-bearer explains an RFC 7523 request whose assertion is --token.
--requested-token-type txn_token explains a Transaction Token request (with
--request-context and --request-details as the client would send them;
--token-type txn_token a replacement, checked with the policy's keys file),
id-jag an ID-JAG request (--token-type id_token, --audience the resource
authorization server, --resource the resource there).
Exit status: 0 the exchange would be granted, 1 refused, 2 usage or policy error.`

// explainCmd is `tokex explain`: see explainUsage.
func explainCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, explainUsage) }
	cfgPath := fs.String("config", os.Getenv("TOKEX_CONFIG"), "policy file (TOKEX_CONFIG)")
	token := fs.String("token", "", "subject token: the JWT, - for stdin, @FILE for a file")
	clientID := fs.String("client", "", "client that would send the request (its credentials are not checked)")
	audience := fs.String("audience", "", "requested audience (or resource)")
	scope := fs.String("scope", "", "requested scopes, space-separated")
	tokenType := fs.String("token-type", "access_token", "subject_token_type: access_token, jwt, id_token, txn_token or the RFC 8693 URN")
	requested := fs.String("requested-token-type", "", "requested_token_type: access_token (default), txn_token, id-jag or the URN")
	resource := fs.String("resource", "", "requested resource (RFC 8707); for an ID-JAG the resource claim")
	reqContext := fs.String("request-context", "", "a Txn-Token request's request_context (a JSON object)")
	reqDetails := fs.String("request-details", "", "a Txn-Token request's request_details (a JSON object)")
	actorToken := fs.String("actor-token", "", "actor token for delegation: the JWT or @FILE")
	actorTokenType := fs.String("actor-token-type", "", "actor_token_type: access_token, jwt, id_token or the RFC 8693 URN (default access_token with --actor-token)")
	unauth := fs.Bool("unauthenticated", false, "explain a request without client credentials")
	dpopJKT := fs.String("dpop-jkt", "", "the caller sends a DPoP proof with the key of this RFC 7638 thumbprint (cnf.jkt)")
	certX5T := fs.String("cert-x5t", "", "the caller presents a client certificate of this SHA-256 thumbprint (cnf.x5t#S256)")
	grant := fs.String("grant", "token-exchange", "token-exchange, or jwt-bearer: --token is the assertion of an RFC 7523 request")
	asJSON := fs.Bool("json", false, "print the explanation as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *cfgPath == "" || *token == "" {
		fmt.Fprintln(stderr, explainUsage)
		return 2
	}
	raw, err := readToken("--token", *token, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "tokex explain: %v\n", err)
		return 2
	}
	tt, ok := tokenTypeURN(*tokenType)
	if !ok {
		fmt.Fprintf(stderr, "tokex explain: --token-type %q: use access_token, jwt, id_token or txn_token\n", *tokenType)
		return 2
	}
	rtt, ok := requestedTypeURN(*requested)
	if !ok {
		fmt.Fprintf(stderr, "tokex explain: --requested-token-type %q: use access_token, txn_token or id-jag\n", *requested)
		return 2
	}
	if *unauth && *clientID != "" {
		fmt.Fprintln(stderr, "tokex explain: --client and --unauthenticated exclude each other")
		return 2
	}
	var actor, att string
	switch {
	case *actorToken == "" && *actorTokenType != "":
		fmt.Fprintln(stderr, "tokex explain: --actor-token-type needs --actor-token")
		return 2
	case *actorToken != "":
		if *actorToken == "-" && *token == "-" {
			fmt.Fprintln(stderr, "tokex explain: only one of --token and --actor-token can read stdin")
			return 2
		}
		if actor, err = readToken("--actor-token", *actorToken, stdin); err != nil {
			fmt.Fprintf(stderr, "tokex explain: %v\n", err)
			return 2
		}
		if *actorTokenType == "" {
			*actorTokenType = "access_token"
		}
		if att, ok = tokenTypeURN(*actorTokenType); !ok {
			fmt.Fprintf(stderr, "tokex explain: --actor-token-type %q: use access_token, jwt or id_token\n", *actorTokenType)
			return 2
		}
	}
	src, err := config.LoadPolicyFile(*cfgPath, config.Overrides{})
	if err != nil {
		fmt.Fprintf(stderr, "tokex explain: %v\n", err)
		return 2
	}
	pol, err := policy.Compile(src)
	if err != nil {
		fmt.Fprintf(stderr, "tokex explain: %v\n", err)
		return 2
	}
	// Keys are fetched only for the tokens' own issuers, and only when their
	// keys are not inline; nothing is signed, so tokex's own keys are not
	// loaded. No client is authenticated, so there is no client registry
	// (whose jwks_uri clients would fetch keys): Explain reads the policy.
	reg := issuer.NewRegistry(src.Issuers, issuer.Options{OnDemand: true, Logger: slog.New(slog.DiscardHandler), HTTPTimeout: 5 * time.Second})
	defer reg.Close()
	// A Txn-Token presented for replacement is tokex's own: its signature
	// is checked with the public keys of the policy's keys file.
	var ownKeys *atomic.Pointer[keys.Set]
	if tt == api.TokenTypeTxnToken && src.Keys != "" {
		set, err := keys.LoadFile(src.Keys)
		if err != nil {
			fmt.Fprintf(stderr, "tokex explain: %v\n", err)
			return 2
		}
		ownKeys = &atomic.Pointer[keys.Set]{}
		ownKeys.Store(set)
	}
	svc := exchange.New(exchange.Options{
		State:  &exchange.State{Policy: pol, Issuers: reg},
		Minter: mint.New(src.Issuer, ownKeys, nil),
	})
	form := api.TokenRequest{
		GrantType:          api.GrantTypeTokenExchange,
		SubjectToken:       raw,
		SubjectTokenType:   tt,
		ActorToken:         actor,
		ActorTokenType:     att,
		Audience:           *audience,
		Resource:           *resource,
		Scope:              *scope,
		RequestedTokenType: rtt,
		RequestContext:     *reqContext,
		RequestDetails:     *reqDetails,
	}
	switch *grant {
	case "token-exchange":
	case "jwt-bearer":
		if actor != "" {
			fmt.Fprintln(stderr, "tokex explain: --grant jwt-bearer takes no --actor-token")
			return 2
		}
		form = api.TokenRequest{GrantType: api.GrantTypeJWTBearer, Assertion: raw, Audience: *audience, Scope: *scope}
	default:
		fmt.Fprintf(stderr, "tokex explain: --grant %q: use token-exchange or jwt-bearer\n", *grant)
		return 2
	}
	x := svc.Explain(ctx, exchange.ExplainRequest{ClientID: *clientID, Unauthenticated: *unauth, DPoPJKT: *dpopJKT, CertX5T: *certX5T, Form: form})
	if err := writeReport(stdout, *asJSON, x, x.WriteText); err != nil {
		fmt.Fprintf(stderr, "tokex explain: %v\n", err)
		return 2
	}
	if !x.Granted() {
		return 1
	}
	return 0
}

// writeReport writes v as indented JSON, or as text for a person.
func writeReport(w io.Writer, asJSON bool, v any, text func(io.Writer) error) error {
	if !asJSON {
		return text(w)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// maxTokenInput bounds what --token - and @FILE read; tokens are far smaller.
const maxTokenInput = 1 << 20

func readToken(flagName, arg string, stdin io.Reader) (string, error) {
	var r io.Reader
	switch {
	case arg == "-":
		r = stdin
	case strings.HasPrefix(arg, "@"):
		f, err := os.Open(arg[1:])
		if err != nil {
			return "", fmt.Errorf("%s: %w", flagName, err)
		}
		defer f.Close()
		r = f
	default:
		return strings.TrimSpace(arg), nil
	}
	b, err := io.ReadAll(io.LimitReader(r, maxTokenInput))
	if err != nil {
		return "", fmt.Errorf("%s: %w", flagName, err)
	}
	if s := strings.TrimSpace(string(b)); s != "" {
		return s, nil
	}
	return "", fmt.Errorf("%s: no token read", flagName)
}

func tokenTypeURN(s string) (string, bool) {
	switch s {
	case "access_token", api.TokenTypeAccessToken:
		return api.TokenTypeAccessToken, true
	case "jwt", api.TokenTypeJWT:
		return api.TokenTypeJWT, true
	case "id_token", api.TokenTypeIDToken:
		return api.TokenTypeIDToken, true
	case "txn_token", api.TokenTypeTxnToken:
		return api.TokenTypeTxnToken, true
	}
	return "", false
}

// requestedTypeURN maps --requested-token-type to requested_token_type.
func requestedTypeURN(s string) (string, bool) {
	switch s {
	case "", "access_token", api.TokenTypeAccessToken:
		return "", true
	case "txn_token", api.TokenTypeTxnToken:
		return api.TokenTypeTxnToken, true
	case "id-jag", "id_jag", api.TokenTypeIDJAG:
		return api.TokenTypeIDJAG, true
	}
	return "", false
}
