package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/tokex/tokex/internal/inspect"
)

const inspectUsage = `usage: tokex inspect [--issuer URL] [--audience AUD] [--verify] [--json] [TOKEN|-|@FILE]

Says what a token is (access token, ID token, DPoP proof, ...), which
identity provider issued it, what it carries (audience, subject, scopes,
lifetime, binding, delegation) and, against the --issuer and --audience an
API expects, each check that API would fail and what to do instead. The token
is decoded offline and never printed; without TOKEN, or with -, it is read
from stdin. --verify fetches the issuer's metadata and keys (nothing else
leaves the machine) and checks the signature.
Exit status: 0 the token would be accepted, 1 refused, 2 not a token or usage error.`

// inspectCmd is `tokex inspect`: see inspectUsage.
func inspectCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, inspectUsage) }
	issuer := fs.String("issuer", "", "the iss the API expects")
	audience := fs.String("audience", "", "the aud the API expects")
	verify := fs.Bool("verify", false, "fetch the issuer's keys (discovery, JWKS) and check the signature")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	// Flags may follow the token: parse what is left after each argument.
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	arg := "-"
	switch len(rest) {
	case 0:
	case 1:
		arg = rest[0]
	default:
		fmt.Fprintln(stderr, inspectUsage)
		return 2
	}
	raw, err := readToken("token", arg, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "tokex inspect: %v\n", err)
		return 2
	}
	r := inspect.Inspect(ctx, raw, inspect.Options{Issuer: *issuer, Audience: *audience, Verify: *verify})
	if err := writeReport(stdout, *asJSON, r, r.WriteText); err != nil {
		fmt.Fprintf(stderr, "tokex inspect: %v\n", err)
		return 2
	}
	return r.ExitCode()
}
