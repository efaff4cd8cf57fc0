package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokex/tokex/api"
)

// TestBodyOverCapAnsweredAtOnce (issue 12, finding 8): a request declaring a
// Content-Length over TOKEX_MAX_BODY_BYTES and sending no body is answered
// 413 invalid_request with Connection: close. The read timeout is the longest
// tokex allows, so an answer at all shows tokex did not wait for the body;
// the context deadline is only a safety net.
func TestBodyOverCapAnsweredAtOnce(t *testing.T) {
	p := newIdPs(t)
	x := start(t, startOpts{policy: p.policy("", ""), env: []string{"TOKEX_READ_TIMEOUT=10m", "TOKEX_MAX_BODY_BYTES=65536"}})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", strings.TrimPrefix(x.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	req := "POST /token HTTP/1.1\r\nHost: tokex\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1073741824\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer without the body: %v", err)
	}
	defer resp.Body.Close()
	var e api.ErrorResponse
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("error body: %v", err)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge || e.Error != api.ErrInvalidRequest {
		t.Errorf("got %d %q, want 413 invalid_request", resp.StatusCode, e.Error)
	}
	if !resp.Close || !strings.Contains(e.ErrorDescription, "65536") {
		t.Errorf("Connection %q, description %q: want close and the limit", resp.Header.Get("Connection"), e.ErrorDescription)
	}
}
