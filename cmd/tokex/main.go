// Command tokex is the tokex security token service. main only wires parts
// together; the logic lives under internal/.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runIO(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runIO(ctx, args, strings.NewReader(""), stdout, stderr)
}

func runIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "keys":
		return keysCmd(args[1:], stdout, stderr)
	case "explain":
		return explainCmd(ctx, args[1:], stdin, stdout, stderr)
	case "inspect":
		return inspectCmd(ctx, args[1:], stdin, stdout, stderr)
	case "policy":
		return policyCmd(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "tokex %s\n", version)
		return 0
	case "help", "--help", "-h":
		fmt.Fprintln(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tokex: unknown command %q\n\n%s\n", args[0], usage)
		return 2
	}
}

const usage = `usage: tokex <command> [flags]

commands:
  serve     run the token exchange service
            settings: TOKEX_CONFIG, TOKEX_ADDR, TOKEX_ISSUER, TOKEX_KEYS, TOKEX_LOG_LEVEL
            and the standard OTEL_* variables; flags --config, --addr, --issuer,
            --keys, --log-level override them
  keys generate [--alg ES256|EdDSA|RS256|PS256] [--min-next 10m]
            print a new private JWKS for the keys file (keep it secret):
            one active and one next key
  keys rotate [--max-lifetime 15m] [--leeway 5m] [--alg ALG] FILE
            rewrite FILE atomically: next -> active, active -> retired, a new
            next key; drops retired keys whose tokens have all expired
  keys public FILE
            print the public JWKS tokex publishes for FILE
  explain --config FILE --token JWT|-|@FILE [--client ID | --unauthenticated]
          [--audience URL] [--scope S] [--token-type T]
          [--actor-token JWT|@FILE [--actor-token-type T]] [--json]
            run an exchange without signing and print every check; exit 0
            granted, 1 refused, 2 usage or policy error
  inspect [--issuer URL] [--audience AUD] [--verify] [--json] [TOKEN|-|@FILE]
            say what a token is, who issued it and why an API expecting
            --issuer/--audience would refuse it; offline unless --verify;
            exit 0 accepted, 1 refused, 2 not a token or usage error
  policy check FILE
            validate a policy file and print every problem; exit 0 valid, 1 not
  version   print the version`
