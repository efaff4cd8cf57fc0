package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/policy"
)

const policyUsage = `usage: tokex policy check FILE

Validates a policy file and prints every problem with its key path and line.
Exit status: 0 valid, 1 problems found, 2 usage error.`

// policyCmd is `tokex policy check FILE`: the checks `tokex serve` runs on
// the policy at start, without starting anything.
func policyCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 || args[0] != "check" || strings.HasPrefix(args[1], "-") {
		fmt.Fprintln(stderr, policyUsage)
		return 2
	}
	file := args[1]
	src, err := config.LoadPolicyFile(file, config.Overrides{})
	if err != nil {
		fmt.Fprintf(stdout, "%v\n", err)
		return 1
	}
	pol, err := policy.Compile(src)
	if err != nil {
		fmt.Fprintf(stdout, "%v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: valid\n", file)
	names := func(n int, name func(int) string) string {
		xs := make([]string, n)
		for i := range xs {
			xs[i] = name(i)
		}
		return fmt.Sprintf("%d (%s)", n, strings.Join(xs, ", "))
	}
	fmt.Fprintf(stdout, "  issuer:   %s\n", src.Issuer)
	fmt.Fprintf(stdout, "  issuers:  %s\n", names(len(src.Issuers), func(i int) string { return src.Issuers[i].Name }))
	fmt.Fprintf(stdout, "  clients:  %s\n", names(len(src.Clients), func(i int) string { return src.Clients[i].ID }))
	fmt.Fprintf(stdout, "  rules:    %s\n", names(len(src.Rules), func(i int) string { return src.Rules[i].Name }))
	if src.Keys == "" {
		fmt.Fprintf(stdout, "  keys:     none (tokex serve would use an ephemeral key)\n")
	} else {
		fmt.Fprintf(stdout, "  keys:     %s (not loaded by policy check)\n", src.Keys)
	}
	fmt.Fprintf(stdout, "  warnings: %d\n", len(pol.Warnings))
	for _, w := range pol.Warnings {
		fmt.Fprintf(stdout, "    %s\n", w)
	}
	return 0
}
