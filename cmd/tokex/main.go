// Command tokex is the tokex security token service. main only wires parts
// together; the logic lives under internal/.
package main

import (
	"fmt"
	"io"
	"os"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	switch args[0] {
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

const usage = `usage: tokex <command>

commands:
  serve     run the token exchange service (settings from TOKEX_* environment variables)
  version   print the version`
