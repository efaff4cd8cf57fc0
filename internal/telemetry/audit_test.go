package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

type secretValuer struct{}

func (secretValuer) LogValue() slog.Value { return slog.StringValue("resolved") }

// TestAuditHandler holds the audit handler's output to slog.JSONHandler's,
// byte for byte, on its fast path and on every way off it.
func TestAuditHandler(t *testing.T) {
	at := time.Date(2026, 11, 21, 17, 4, 5, 123456789, time.FixedZone("X", 3600))
	attrs := []slog.Attr{
		slog.String("outcome", "granted"), slog.String("client_id", "demo-client"), slog.String("subject", "alice"),
		slog.String("scope", "orders.read orders.write"), slog.String("empty", ""), slog.Int("n", -7),
		slog.Uint64("u", 7), slog.Bool("b", true), slog.Duration("d", 1500*time.Millisecond),
		slog.Time("expires_at", at.Add(time.Hour)), slog.Any("valuer", secretValuer{}), {},
	}
	cases := []struct {
		name  string
		attrs []slog.Attr
		with  []slog.Attr
		group string
		time  time.Time
		level slog.Level
		msg   string
	}{
		{name: "fast path", attrs: attrs, with: []slog.Attr{slog.String("log", "audit")}},
		{name: "zero time", attrs: attrs, time: time.Time{}},
		{name: "no attrs"},
		{name: "string that needs escaping", attrs: []slog.Attr{slog.String("error_description", `issuer "a" <x> & é`)}},
		{name: "control character", attrs: []slog.Attr{slog.String("s", "a\nb\tc\x01")}},
		{name: "invalid UTF-8", attrs: []slog.Attr{slog.String("s", "bad \xff")}},
		{name: "key that needs escaping", attrs: []slog.Attr{slog.String("k\"", "v")}},
		{name: "message that needs escaping", msg: "ex\"change"},
		{name: "float", attrs: []slog.Attr{slog.Float64("f", 0.1)}},
		{name: "error", attrs: []slog.Attr{slog.Any("err", errors.New("boom"))}},
		{name: "map", attrs: []slog.Attr{slog.Any("m", map[string]int{"b": 2, "a": 1})}},
		{name: "group", attrs: []slog.Attr{slog.Group("g", slog.String("a", "b")), slog.Group("", slog.Int("inline", 1)), slog.Group("empty")}},
		{name: "year 10000", attrs: []slog.Attr{slog.Time("t", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))}},
		{name: "with attrs that need escaping", with: []slog.Attr{slog.String("w", "\"")}, attrs: attrs},
		{name: "with group", group: "g", with: []slog.Attr{slog.String("log", "audit")}, attrs: attrs},
		{name: "warning", level: slog.LevelWarn, attrs: attrs},
		{name: "debug is not enabled", level: slog.LevelDebug, attrs: attrs},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var fast, want bytes.Buffer
			opts := &slog.HandlerOptions{Level: slog.LevelInfo}
			handlers := []slog.Handler{newAuditHandler(&fast, opts), slog.NewJSONHandler(&want, opts)}
			for i, h := range handlers {
				if tc.with != nil {
					h = h.WithAttrs(tc.with)
				}
				if tc.group != "" {
					h = h.WithGroup(tc.group)
				}
				handlers[i] = h
			}
			ts := tc.time
			if tc.name != "zero time" {
				ts = at
			}
			msg := tc.msg
			if msg == "" {
				msg = "exchange"
			}
			for _, h := range handlers {
				if !h.Enabled(context.Background(), tc.level) {
					continue
				}
				r := slog.NewRecord(ts, tc.level, msg, 0)
				r.AddAttrs(tc.attrs...)
				if err := h.Handle(context.Background(), r); err != nil {
					t.Fatal(err)
				}
				// The same record through HandleAttrs, which the exchange uses.
				if ah, ok := h.(*AuditHandler); ok {
					if err := ah.HandleAttrs(context.Background(), ts, tc.level, msg, tc.attrs); err != nil {
						t.Fatal(err)
					}
				} else if err := h.Handle(context.Background(), r); err != nil {
					t.Fatal(err)
				}
			}
			if fast.String() != want.String() {
				t.Errorf("audit handler:\n  %s\nslog.JSONHandler:\n  %s", fast.String(), want.String())
			}
			if tc.level >= slog.LevelInfo && want.Len() == 0 {
				t.Error("nothing written")
			}
		})
	}
}

// BenchmarkAuditHandler compares the audit handler with slog.JSONHandler on
// an exchange's audit event.
func BenchmarkAuditHandler(b *testing.B) {
	at := time.Now()
	attrs := []slog.Attr{
		slog.String("outcome", "granted"), slog.String("client_id", "demo-client"), slog.String("issuer", "demo"),
		slog.String("subject", "alice"), slog.String("rule", "orders"), slog.String("audience", "https://orders.example"),
		slog.String("scope", "orders.read"), slog.String("jti", "Vq3vJ8v0a9y1hY8Q2l6wWg"), slog.Time("expires_at", at),
		slog.String("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
	}
	for _, h := range []struct {
		name string
		h    slog.Handler
	}{{"audit", newAuditHandler(discard{}, nil)}, {"JSONHandler", slog.NewJSONHandler(discard{}, nil)}} {
		l := slog.New(h.h).With(slog.String("log", "audit"))
		b.Run(h.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l.LogAttrs(context.Background(), slog.LevelInfo, "exchange", attrs...)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
