package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/exchange"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/server"
)

// TestBodyOverCapAnsweredAtOnce: a body over the cap is answered 413 with an
// OAuth error and Connection: close, without waiting for the body. The
// server's read timeout is an hour, so an answer proves it did not wait; the
// context deadline is only a safety net.
func TestBodyOverCapAnsweredAtOnce(t *testing.T) {
	const maxBody = 8 << 10
	ks, err := keys.Generate(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	var set atomic.Pointer[keys.Set]
	set.Store(ks)
	srv := httptest.NewUnstartedServer(server.New(server.Options{Exchange: exchange.New(exchange.Options{}), Keys: &set,
		Issuer: "https://sts.example.com", MaxBodyBytes: maxBody}))
	srv.Config.ReadTimeout = time.Hour
	srv.Start()
	defer srv.Close()

	const head = "POST /token HTTP/1.1\r\nHost: tokex\r\nContent-Type: application/x-www-form-urlencoded\r\n"
	chunk := func(n int) string { return strconv.FormatInt(int64(n), 16) + "\r\n" + strings.Repeat("a", n) + "\r\n" }
	for _, tc := range []struct {
		name string
		req  string // sent, then the client waits without closing
	}{
		{name: "content-length far over the cap, no body", req: head + "Content-Length: 1073741824\r\n\r\n"},
		{name: "content-length just over the cap, no body", req: head + "Content-Length: 8193\r\n\r\n"},
		{name: "content-length over the cap, part of the body", req: head + "Content-Length: 200000\r\n\r\nscope=a&padding=" + strings.Repeat("p", 100)},
		{name: "expect 100-continue over the cap", req: head + "Expect: 100-continue\r\nContent-Length: 100000\r\n\r\n"},
		{name: "chunked past the cap, then stalled", req: head + "Transfer-Encoding: chunked\r\n\r\n" + chunk(4<<10) + chunk(4<<10) + chunk(1<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // safety net only
			defer cancel()
			conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if d, ok := ctx.Deadline(); ok {
				_ = conn.SetDeadline(d)
			}
			if _, err := conn.Write([]byte(tc.req)); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer before the body: %v", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413", resp.StatusCode)
			}
			if !resp.Close {
				t.Errorf("Connection: %q, want close", resp.Header.Get("Connection"))
			}
			var e api.ErrorResponse
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatalf("error body: %v", err)
			}
			if e.Error != api.ErrInvalidRequest || !strings.Contains(e.ErrorDescription, "8192") {
				t.Errorf("error %q (%q), want invalid_request stating the limit", e.Error, e.ErrorDescription)
			}
		})
	}
}
