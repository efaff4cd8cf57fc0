package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/tokex/tokex/internal/keys"
)

// keysCmd is `tokex keys generate [--alg ES256|EdDSA|RS256]`: print a new
// private JWKS for the policy's keys file.
func keysCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "generate" {
		fmt.Fprintln(stderr, "usage: tokex keys generate [--alg ES256|EdDSA|RS256]")
		return 2
	}
	fs := flag.NewFlagSet("keys generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	alg := fs.String("alg", keys.ES256, "signing algorithm: ES256, EdDSA or RS256")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	ks, err := keys.Generate(*alg)
	if err != nil {
		fmt.Fprintf(stderr, "tokex: %v\n", err)
		return 1
	}
	doc, err := ks.MarshalPrivate()
	if err != nil {
		fmt.Fprintf(stderr, "tokex: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", doc)
	return 0
}
