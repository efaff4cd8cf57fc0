package telemetry_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tokex/tokex/internal/telemetry"
	"github.com/tokex/tokex/internal/testidp"
)

// writes is the output stream, read as JSON lines.
type writes struct{ testidp.SyncBuffer }

func (w *writes) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	s := w.String()
	if s != "" && !strings.HasSuffix(s, "\n") {
		t.Fatalf("the output ends inside a line: %q", s[max(0, len(s)-80):])
	}
	for l := range strings.SplitSeq(strings.TrimSuffix(s, "\n"), "\n") {
		if l == "" {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		out = append(out, ev)
	}
	return out
}

// failing fails its first write, then writes to w.
type failing struct {
	failed bool
	w      *writes
}

func (f *failing) Write(p []byte) (int, error) {
	if !f.failed {
		f.failed = true
		return 0, errors.New("disk full")
	}
	return f.w.Write(p)
}

func TestBufferedLoggers(t *testing.T) {
	defer goleak.VerifyNone(t)
	var w writes
	// An hour: only a full buffer, an application record or Close writes.
	logs := telemetry.NewBufferedLoggers(&w, slog.LevelInfo, time.Hour)
	for i := range 3 {
		logs.Audit.Info("exchange", "n", i)
	}
	if got := len(w.lines(t)); got != 0 {
		t.Fatalf("%d lines written before a flush, want 0", got)
	}
	logs.App.Warn("app")
	lines := w.lines(t)
	if len(lines) != 4 || lines[3]["msg"] != "app" {
		t.Fatalf("after an application record: %v, want 3 audit records, then it", lines)
	}

	// Past AuditBufferBytes: written out, none lost.
	big := strings.Repeat("x", 1000)
	n := 2 * telemetry.AuditBufferBytes / len(big)
	for i := range n {
		logs.Audit.Info("exchange", "n", i, "pad", big)
	}
	// One record larger than the buffer goes straight through.
	logs.Audit.Info("exchange", "pad", strings.Repeat("y", telemetry.AuditBufferBytes))
	if err := logs.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(w.lines(t)); got != 4+n+1 {
		t.Fatalf("%d lines after Close, want %d", got, 4+n+1)
	}
	logs.Audit.Info("after close")
	if got := len(w.lines(t)); got != 4+n+2 {
		t.Fatalf("a record after Close is not written at once: %d lines", got)
	}
}

// A failed write loses what was pending, not the audit log.
func TestBufferedLoggersAfterAFailedWrite(t *testing.T) {
	var w writes
	logs := telemetry.NewBufferedLoggers(&failing{w: &w}, slog.LevelInfo, time.Hour)
	logs.Audit.Info("lost")
	logs.App.Warn("fails")
	logs.Audit.Info("kept")
	if err := logs.Close(); err != nil {
		t.Fatal(err)
	}
	if lines := w.lines(t); len(lines) != 1 || lines[0]["msg"] != "kept" {
		t.Errorf("after a failed write: %v, want the next record", lines)
	}
}

func TestBufferedLoggersFlushPeriodically(t *testing.T) {
	defer goleak.VerifyNone(t)
	var w writes
	logs := telemetry.NewBufferedLoggers(&w, slog.LevelInfo, time.Millisecond)
	defer func() { _ = logs.Close() }()
	logs.Audit.Info("exchange")
	for range 5000 {
		if len(w.lines(t)) == 1 {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the audit record was not written by the periodic flush")
}
