package telemetry

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/tokex/tokex/internal/jsonenc"
)

// auditHandler is slog.JSONHandler with a fast path for the audit log, which
// writes one line per exchange: a record whose attributes are all strings
// that need no escape, integers, booleans, durations or times is appended
// directly; any other record, and any handler with a group, goes to a
// JSONHandler on the same writer and lock. The output is byte for byte
// JSONHandler's (TestAuditHandler).
type auditHandler struct {
	out      *lockedWriter
	opts     *slog.HandlerOptions
	fallback slog.Handler // holds the WithAttrs attributes too
	pre      []byte       // the WithAttrs attributes, rendered, each after a comma
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newAuditHandler(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	if opts == nil {
		opts = &slog.HandlerOptions{}
	}
	out := &lockedWriter{w: w}
	return &auditHandler{out: out, opts: opts, fallback: slog.NewJSONHandler(out, opts)}
}

func (h *auditHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.fallback.Enabled(ctx, l)
}

func (h *auditHandler) WithAttrs(as []slog.Attr) slog.Handler {
	pre, ok := appendPlainAttrs(h.pre, as)
	if !ok {
		return h.fallback.WithAttrs(as)
	}
	return &auditHandler{out: h.out, opts: h.opts, fallback: h.fallback.WithAttrs(as), pre: pre}
}

func (h *auditHandler) WithGroup(name string) slog.Handler { return h.fallback.WithGroup(name) }

var auditBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (h *auditHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.opts.AddSource || h.opts.ReplaceAttr != nil {
		return h.fallback.Handle(ctx, r)
	}
	bp := auditBuffers.Get().(*[]byte)
	defer auditBuffers.Put(bp)
	b := append((*bp)[:0], '{')
	ok := true
	if !r.Time.IsZero() {
		b, ok = appendTime(jsonenc.Member(b, slog.TimeKey), r.Time.Round(0))
	}
	if ok {
		b, ok = jsonenc.AppendPlain(jsonenc.Member(b, slog.LevelKey), r.Level.String())
	}
	if ok {
		b, ok = jsonenc.AppendPlain(jsonenc.Member(b, slog.MessageKey), r.Message)
	}
	if !ok {
		return h.fallback.Handle(ctx, r)
	}
	b = append(b, h.pre...)
	r.Attrs(func(a slog.Attr) bool {
		b, ok = appendPlainAttr(b, a)
		return ok
	})
	if !ok {
		return h.fallback.Handle(ctx, r)
	}
	b = append(b, '}', '\n')
	*bp = b
	_, err := h.out.Write(b)
	return err
}

func appendPlainAttrs(b []byte, as []slog.Attr) ([]byte, bool) {
	for _, a := range as {
		var ok bool
		if b, ok = appendPlainAttr(b, a); !ok {
			return b, false
		}
	}
	return b, true
}

// appendPlainAttr appends ,"key":value for an attribute JSONHandler would
// write the same way, or reports false.
func appendPlainAttr(b []byte, a slog.Attr) ([]byte, bool) {
	v := a.Value.Resolve()
	if a.Key == "" && v.Kind() == slog.KindAny && v.Any() == nil {
		return b, true // JSONHandler elides empty attributes
	}
	b = append(b, ',')
	b, ok := jsonenc.AppendPlain(b, a.Key)
	if !ok {
		return b, false
	}
	b = append(b, ':')
	switch v.Kind() {
	case slog.KindString:
		return jsonenc.AppendPlain(b, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10), true
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10), true
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool()), true
	case slog.KindDuration:
		return strconv.AppendInt(b, int64(v.Duration()), 10), true
	case slog.KindTime:
		return appendTime(b, v.Time())
	}
	return b, false
}

// appendTime appends t as JSONHandler does (RFC 3339 with nanoseconds), or
// reports false for a year JSONHandler writes an error for.
func appendTime(b []byte, t time.Time) ([]byte, bool) {
	if y := t.Year(); y < 0 || y >= 10000 {
		return b, false
	}
	b = append(b, '"')
	return append(t.AppendFormat(b, time.RFC3339Nano), '"'), true
}
