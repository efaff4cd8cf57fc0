// Command loadgen drives scripts/loadtest.sh: it mints demo subject tokens,
// runs a fixed-rate, open-loop exchange load (wrk2's method), and serves the
// floor an exchange over HTTP is measured against. It is a test tool, never
// part of the tokex binary.
//
//	loadgen mint -url http://127.0.0.1:18181 -n 2000 > tokens
//	loadgen rate -url http://127.0.0.1:18181 -tokens tokens -rate 5000 -d 20s
//	loadgen floor -addr 127.0.0.1:18191 -body 800
//
// Open loop: request i is due at start + i/rate whatever happened to earlier
// ones, and its latency counts from that due time, not from when a connection
// was free to send it. A stalled server therefore shows as latency instead of
// as a lower request rate (no coordinated omission).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen mint|rate|floor [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "mint":
		err = mint(os.Args[2:])
	case "rate":
		err = rate(os.Args[2:])
	case "floor":
		err = floor(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
}

func newClient(conns int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}}
}

// mint prints n demo subject tokens (subjects user-1 ... user-n), one a line.
func mint(args []string) error {
	fs := flag.NewFlagSet("mint", flag.ExitOnError)
	base := fs.String("url", "http://127.0.0.1:18181", "tokex base URL (demo mode)")
	n := fs.Int("n", 2000, "tokens")
	scope := fs.String("scope", "orders.read", "scope of the subject tokens")
	_ = fs.Parse(args)
	c := newClient(4)
	toks := make([]string, *n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < *n; i = int(next.Add(1)) - 1 {
				form := url.Values{"sub": {fmt.Sprintf("user-%d", i+1)}, "scope": {*scope}}
				resp, err := c.PostForm(*base+"/demo/token", form)
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				tok, ok := accessToken(string(b))
				if resp.StatusCode != http.StatusOK || !ok {
					errs <- fmt.Errorf("demo token: %s", resp.Status)
					return
				}
				toks[i] = tok
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	w := bufio.NewWriter(os.Stdout)
	for _, t := range toks {
		fmt.Fprintln(w, t)
	}
	return w.Flush()
}

// accessToken picks "access_token" out of a token response; tokens are
// base64url and dots, so no JSON escape can occur in one.
func accessToken(body string) (string, bool) {
	_, rest, ok := strings.Cut(body, `"access_token":"`)
	if !ok {
		return "", false
	}
	tok, _, ok := strings.Cut(rest, `"`)
	return tok, ok
}

// rate sends exchanges at a fixed rate and prints latency percentiles measured
// from each request's due time.
func rate(args []string) error {
	fs := flag.NewFlagSet("rate", flag.ExitOnError)
	base := fs.String("url", "http://127.0.0.1:18181", "tokex base URL")
	tokFile := fs.String("tokens", "", "file of subject tokens, one a line")
	rps := fs.Float64("rate", 1000, "requests per second")
	dur := fs.Duration("d", 20*time.Second, "duration")
	conns := fs.Int("c", 64, "connections (enough that one is always free at this rate)")
	_ = fs.Parse(args)
	raw, err := os.ReadFile(*tokFile)
	if err != nil {
		return err
	}
	toks := strings.Fields(string(raw))
	if len(toks) == 0 {
		return fmt.Errorf("no tokens in %s", *tokFile)
	}
	bodies := make([]string, len(toks))
	for i, t := range toks {
		bodies[i] = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange" +
			"&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token" +
			"&audience=https%3A%2F%2Forders.example.com&scope=orders.read&subject_token=" + t
	}
	c := newClient(*conns)
	total := int64(float64(*rps) * dur.Seconds())
	interval := time.Duration(float64(time.Second) / *rps)
	lat := make([]time.Duration, total)
	var next, failed atomic.Int64
	start := time.Now().Add(50 * time.Millisecond)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range *conns {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < total; i = next.Add(1) - 1 {
				due := start.Add(time.Duration(i) * interval)
				time.Sleep(time.Until(due))
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, *base+"/token", strings.NewReader(bodies[i%int64(len(bodies))]))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("demo-client", "demo-secret")
				resp, err := c.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
				lat[i] = time.Since(due)
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(int(float64(len(lat))*p), len(lat)-1)]) / float64(time.Millisecond)
	}
	fmt.Printf("RATE requests=%d target_rps=%.0f achieved_rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f failed=%d\n",
		total, *rps, float64(total)/elapsed.Seconds(), pct(0.50), pct(0.90), pct(0.99), pct(0.999), pct(1), failed.Load())
	return nil
}
