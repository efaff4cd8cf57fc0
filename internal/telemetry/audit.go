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

// AuditHandler is slog.JSONHandler with a fast path for the audit log, which
// writes one line per exchange: a record whose attributes are all strings
// that need no escape, integers, booleans, durations or times is appended
// directly; any other record, and any handler with a group, goes to a
// JSONHandler on the same writer and lock. The output is byte for byte
// JSONHandler's (TestAuditHandler).
type AuditHandler struct {
	out      io.Writer // writes one record per call, under its own lock
	opts     *slog.HandlerOptions
	fallback slog.Handler // holds the WithAttrs attributes too
	pre      []byte       // the WithAttrs attributes, rendered, each after a comma
}

func newAuditHandler(out io.Writer, opts *slog.HandlerOptions) slog.Handler {
	if opts == nil {
		opts = &slog.HandlerOptions{}
	}
	return &AuditHandler{out: out, opts: opts, fallback: slog.NewJSONHandler(out, opts)}
}

func (h *AuditHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.fallback.Enabled(ctx, l)
}

func (h *AuditHandler) WithAttrs(as []slog.Attr) slog.Handler {
	pre, ok := appendPlainAttrs(h.pre, as)
	if !ok {
		return h.fallback.WithAttrs(as)
	}
	return &AuditHandler{out: h.out, opts: h.opts, fallback: h.fallback.WithAttrs(as), pre: pre}
}

func (h *AuditHandler) WithGroup(name string) slog.Handler { return h.fallback.WithGroup(name) }

var auditBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (h *AuditHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.handle(ctx, r.Time, r.Level, r.Message, nil, &r)
}

// HandleAttrs is Handle for the record of t, level, msg and attrs, without
// building a slog.Record: one keeps five attributes inline and allocates for
// more, and an exchange's audit event has ten.
func (h *AuditHandler) HandleAttrs(ctx context.Context, t time.Time, level slog.Level, msg string, attrs []slog.Attr) error {
	return h.handle(ctx, t, level, msg, attrs, nil)
}

// handle writes the record (r, or the one of t, level, msg and attrs) on the
// fast path, or hands it to the JSONHandler.
func (h *AuditHandler) handle(ctx context.Context, t time.Time, level slog.Level, msg string, attrs []slog.Attr, r *slog.Record) error {
	fallback := func() error {
		if r == nil {
			rec := slog.NewRecord(t, level, msg, 0)
			rec.AddAttrs(attrs...)
			r = &rec
		}
		return h.fallback.Handle(ctx, *r)
	}
	if h.opts.AddSource || h.opts.ReplaceAttr != nil {
		return fallback()
	}
	bp := auditBuffers.Get().(*[]byte)
	defer auditBuffers.Put(bp)
	b := append((*bp)[:0], '{')
	ok := true
	if !t.IsZero() {
		b, ok = appendTime(jsonenc.Member(b, slog.TimeKey), t.Round(0))
	}
	if ok {
		b, ok = jsonenc.AppendPlain(jsonenc.Member(b, slog.LevelKey), level.String())
	}
	if ok {
		b, ok = jsonenc.AppendPlain(jsonenc.Member(b, slog.MessageKey), msg)
	}
	if !ok {
		return fallback()
	}
	b = append(b, h.pre...)
	if r != nil {
		r.Attrs(func(a slog.Attr) bool {
			b, ok = appendPlainAttr(b, a)
			return ok
		})
	} else {
		for _, a := range attrs {
			if b, ok = appendPlainAttr(b, a); !ok {
				break
			}
		}
	}
	if !ok {
		return fallback()
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
