package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tokex/tokex/internal/keys"
)

const keysUsage = `usage: tokex keys generate [--alg ES256|EdDSA|RS256|PS256] [--min-next 10m]
       tokex keys rotate [--max-lifetime 15m] [--leeway 5m] [--alg ALG] FILE
       tokex keys public FILE`

// keysCmd runs `tokex keys ...`. Every command that prints or writes a key set
// reads it back with the rules `tokex serve` loads it with, and refuses to
// write one that would break validation.
func keysCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, keysUsage)
		return 2
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	algs := strings.Join(keys.Algorithms, ", ")
	switch args[0] {
	case "generate":
		alg := fs.String("alg", keys.ES256, "signing algorithm: "+algs)
		minNext := fs.Duration("min-next", keys.DefaultMinNext, "how long a key stays next before it may sign; the JWKS max-age is half of it")
		if _, ok := parseArgs(fs, args[1:], 0); !ok {
			return 2
		}
		return keysGenerate(*alg, *minNext, stdout, stderr)
	case "rotate":
		o := keys.RotateOptions{}
		fs.DurationVar(&o.MaxLifetime, "max-lifetime", keys.DefaultMaxLifetime, "the longest token lifetime (the policy's token.max_lifetime)")
		fs.DurationVar(&o.Leeway, "leeway", keys.DefaultLeeway, "added to --max-lifetime before a retired key leaves the JWKS: downstream clock skew plus the time for the file to reach every replica")
		fs.StringVar(&o.Alg, "alg", "", "algorithm of the new next key ("+algs+"); default: that of the current next key")
		file, ok := parseArgs(fs, args[1:], 1)
		if !ok {
			return 2
		}
		return keysRotate(file, o, stderr)
	case "public":
		file, ok := parseArgs(fs, args[1:], 1)
		if !ok {
			return 2
		}
		ks, err := keys.LoadFile(file)
		if err != nil {
			fmt.Fprintf(stderr, "tokex: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s\n", ks.JWKS())
		return 0
	}
	fmt.Fprintf(stderr, "tokex: unknown keys command %q\n%s\n", args[0], keysUsage)
	return 2
}

// parseArgs parses flags before and after the positional arguments and wants
// exactly n of those.
func parseArgs(fs *flag.FlagSet, args []string, n int) (string, bool) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", false
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != n {
		fmt.Fprintf(fs.Output(), "tokex: keys %s takes %d file argument(s), got %d\n%s\n", strings.TrimPrefix(fs.Name(), "keys "), n, len(pos), keysUsage)
		return "", false
	}
	if n == 0 {
		return "", true
	}
	return pos[0], true
}

func keysGenerate(alg string, minNext time.Duration, stdout, stderr io.Writer) int {
	now := time.Now()
	ks, err := keys.GenerateSet(keys.GenerateOptions{Alg: alg, MinNext: minNext, Now: now})
	if err != nil {
		fmt.Fprintf(stderr, "tokex: %v\n", err)
		return 1
	}
	doc, err := ks.MarshalPrivate()
	if err == nil {
		_, err = keys.ParseAt(doc, "generated keys", now)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tokex: refusing to print the key set: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", doc)
	return 0
}

func keysRotate(file string, o keys.RotateOptions, stderr io.Writer) int {
	o.Now = time.Now()
	fail := func(err error) int {
		fmt.Fprintf(stderr, "tokex: refusing to rotate %s: %v\n", file, err)
		return 1
	}
	old, err := keys.LoadFile(file)
	if err != nil {
		return fail(err)
	}
	next, r, err := old.Rotate(o)
	if err != nil {
		return fail(err)
	}
	// Read back what is about to be written with the rules tokex loads it with.
	doc, err := next.MarshalPrivate()
	if err != nil {
		return fail(err)
	}
	back, err := keys.ParseAt(doc, file, o.Now)
	if err != nil {
		return fail(err)
	}
	if err := keys.CheckSuccessor(old, back, o.Now); err != nil {
		return fail(err)
	}
	if err := keys.WriteFileAtomic(file, append(doc, '\n')); err != nil {
		return fail(err)
	}
	if r.Promoted != "" {
		fmt.Fprintf(stderr, "tokex: %q is active; %q is retired and stays published until its tokens have expired\n", r.Promoted, r.Retired)
	} else {
		fmt.Fprintf(stderr, "tokex: no next key to promote: %q keeps signing\n", old.Active().KID)
	}
	for _, kid := range r.Dropped {
		fmt.Fprintf(stderr, "tokex: dropped %q: every token it signed has expired\n", kid)
	}
	fmt.Fprintf(stderr, "tokex: added next key %q; the next rotation may run from %s\n", r.Added, r.SignsFrom.Local().Format(time.RFC3339))
	return 0
}
