// Package promtest finds the Prometheus binaries (prometheus, promtool) for
// tests, and starts a real Prometheus on a loopback port with a config and
// rule files the test writes, its storage in t.TempDir(), stopped at cleanup.
//
// Without the binary on PATH the test is skipped with a message saying so,
// unless TOKEX_REQUIRE_PROMETHEUS=1 (set by .ci/run): then it fails.
package promtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Install says how to get the binaries.
const Install = "apt-get install -y prometheus (Debian: prometheus and promtool)"

// Lookup returns the path of name (prometheus or promtool), or skips the test
// (fails it with TOKEX_REQUIRE_PROMETHEUS=1).
func Lookup(t testing.TB, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("TOKEX_REQUIRE_PROMETHEUS") == "1" {
			t.Fatalf("%s is not on PATH and TOKEX_REQUIRE_PROMETHEUS=1: %v; install it with %s", name, err, Install)
		}
		t.Skipf("%s is not on PATH: skipping the tests against a real Prometheus (install it with %s, or set TOKEX_REQUIRE_PROMETHEUS=1 to make this a failure)", name, Install)
	}
	return bin
}

// Server is a running Prometheus.
type Server struct {
	URL string // http://127.0.0.1:port
	cmd *exec.Cmd
	log *bytes.Buffer
}

// Start runs Prometheus with config (prometheus.yml) and the named rule files
// (name -> contents; the config refers to them by name), written to a
// temporary directory, its storage in t.TempDir(), listening on addr (a free
// loopback host:port); it waits until Prometheus is ready and stops it at
// cleanup.
func Start(t testing.TB, addr, config string, rules map[string]string) *Server {
	t.Helper()
	bin := Lookup(t, "prometheus")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, body := range rules {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{URL: "http://" + addr, log: &bytes.Buffer{}}
	s.cmd = exec.Command(bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = &syncWriter{w: s.log}, &syncWriter{w: s.log}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-exited
		}
	})
	c := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := c.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-exited:
			t.Fatalf("prometheus exited at start:\n%s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready in 20s (%v):\n%s", err, s.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Log is what Prometheus printed so far.
func (s *Server) Log() string {
	mu.Lock()
	defer mu.Unlock()
	return s.log.String()
}

var mu sync.Mutex // guards the Servers' log buffers

type syncWriter struct{ w io.Writer }

func (w *syncWriter) Write(p []byte) (int, error) {
	mu.Lock()
	defer mu.Unlock()
	return w.w.Write(p)
}

// Result is an /api/v1/query answer.
type Result struct {
	Status    string `json:"status"`
	Error     string `json:"error"`
	ErrorType string `json:"errorType"`
	Data      struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	} `json:"data"`
}

// Query runs an instant query now.
func (s *Server) Query(expr string) (*Result, error) {
	var r Result
	err := s.get("/api/v1/query?query="+url.QueryEscape(expr), &r)
	if err == nil && r.Status != "success" {
		err = fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	return &r, err
}

// Rule is one rule of /api/v1/rules.
type Rule struct {
	Name           string    `json:"name"`
	Type           string    `json:"type"` // recording or alerting
	Health         string    `json:"health"`
	LastError      string    `json:"lastError"`
	LastEvaluation time.Time `json:"lastEvaluation"`
	State          string    `json:"state"` // alerts: inactive, pending, firing
	Alerts         []struct {
		Labels map[string]string `json:"labels"`
		State  string            `json:"state"`
	} `json:"alerts"`
}

// Rules lists every loaded rule with its health and, for alerts, its alerts.
func (s *Server) Rules() ([]Rule, error) {
	var r struct {
		Data struct {
			Groups []struct {
				Rules []Rule `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := s.get("/api/v1/rules", &r); err != nil {
		return nil, err
	}
	var out []Rule
	for _, g := range r.Data.Groups {
		out = append(out, g.Rules...)
	}
	return out, nil
}

func (s *Server) get(path string, out any) error {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(s.URL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("GET %s: %d %s: %w", path, resp.StatusCode, b, err)
	}
	return nil
}
