// Package redistest starts a real redis-server for tests, on a free loopback
// port, with no persistence, and stops it at cleanup.
//
// Without redis-server on PATH the test is skipped with a message saying so,
// unless TOKEX_REQUIRE_REDIS=1 (set by .ci/run): then it fails.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokex/tokex/internal/store"
)

// Server is one redis-server process; Stop and Start let a test take it away
// and bring it back on the same port.
type Server struct {
	t    testing.TB
	bin  string
	args []string
	port int
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs redis-server until the test ends; args are extra server
// arguments (e.g. "--requirepass", "pw").
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("TOKEX_REQUIRE_REDIS") == "1" {
			t.Fatalf("redis-server is not on PATH and TOKEX_REQUIRE_REDIS=1: %v", err)
		}
		t.Skip("redis-server is not on PATH: skipping the tests against a real Redis (install redis-server, or set TOKEX_REQUIRE_REDIS=1 to make this a failure)")
	}
	s := &Server{t: t, bin: bin, args: args, port: freePort(t)}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is redis://host:port/0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Store is a client of the server with tokex's timeouts, closed at cleanup.
func (s *Server) Store(t testing.TB) *store.Client {
	t.Helper()
	st, err := store.Open(store.Options{URL: s.URL(), DialTimeout: time.Second, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// Start (re)starts the server on its port and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(s.bin, append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning"}, s.args...)...)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ping(s.Addr()) == nil {
			return
		}
		select {
		case <-done:
			s.t.Fatalf("redis-server exited at start (port %d)", s.port)
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.t.Fatalf("redis-server did not answer on %s", s.Addr())
}

// Recovers fails t unless try succeeds within d of the server coming back:
// clients must reconnect on their own.
func Recovers(t testing.TB, d time.Duration, try func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := try()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery within %s: %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL: as abrupt as a crash) and waits for it.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Do sends one inline command and returns the first reply line, for tests
// that inspect the store without a client library.
func (s *Server) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") { // -NOAUTH: up, with a password
		return fmt.Errorf("ping: %q", line)
	}
	return nil
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
