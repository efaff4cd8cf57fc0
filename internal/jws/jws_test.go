package jws_test

import (
	"encoding/base64"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/tokex/tokex/internal/jws"
)

func TestDecodeSegment(t *testing.T) {
	enc := base64.RawURLEncoding
	good := enc.EncodeToString([]byte("any carnal pleas"))
	tests := []struct {
		name string
		seg  string
		ok   bool
	}{
		{"canonical", good, true},
		{"empty", "", true},
		{"padding", base64.URLEncoding.EncodeToString([]byte("any carnal pleas")), false},
		{"standard alphabet +", "a+b", false},
		{"standard alphabet /", "a/b", false},
		{"CRLF appended", good + "\r\n", false},
		{"LF inside", good[:4] + "\n" + good[4:], false},
		{"CR inside", good[:4] + "\r" + good[4:], false},
		{"space", good[:4] + " " + good[4:], false},
		{"tab", good + "\t", false},
		{"NUL", good + "\x00", false},
		{"impossible length", "abcde", false},
		{"non-zero trailing bits", good[:len(good)-1] + "t", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := jws.DecodeSegment(tc.seg)
			if tc.ok != (err == nil) {
				t.Fatalf("DecodeSegment(%q) = %q, %v; want ok=%v", tc.seg, b, err, tc.ok)
			}
			if err != nil && !errors.Is(err, jws.ErrSegment) {
				t.Errorf("error %v is not ErrSegment", err)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want error
	}{
		{"a.b.c", nil}, {"a.b", jws.ErrNotCompact}, {"a.b.c.d", jws.ErrNotCompact}, {"a.b.c.d.e", jws.ErrEncrypted}, {"", jws.ErrNotCompact},
	} {
		if _, err := jws.Split(tc.raw); !errors.Is(err, tc.want) {
			t.Errorf("Split(%q) = %v, want %v", tc.raw, err, tc.want)
		}
	}
}

func TestNumericDate(t *testing.T) {
	far, past := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		lit  string
		want time.Time // zero: not a NumericDate
		text string    // String()
	}{
		{"1800000000", time.Unix(1800000000, 0), "2027-01-15T08:00:00Z"},
		{"1800000000.5", time.Unix(1800000000, 5e8), "2027-01-15T08:00:00Z"},
		{"1.8e9", time.Unix(1800000000, 0), "2027-01-15T08:00:00Z"},
		{"0", time.Unix(0, 0), "1970-01-01T00:00:00Z"},
		{"-1", time.Unix(-1, 0), "1969-12-31T23:59:59Z"},
		{"253402300799", far, "9999-12-31T23:59:59Z"},
		// Beyond year 9999: the far future, never a wrapped-around date.
		{"253402300800", far, "the far future (after year 9999)"},
		{"1e19", far, "the far future (after year 9999)"},
		{"9.3e18", far, "the far future (after year 9999)"},
		{"9223372000000000000", far, "the far future (after year 9999)"},
		{"9223372036854775807", far, "the far future (after year 9999)"},
		{"18446744073709551616", far, "the far future (after year 9999)"},
		{"1e300", far, "the far future (after year 9999)"},
		{"1e400", far, "the far future (after year 9999)"},
		{"999999999999999", far, "the far future (after year 9999)"},
		{"-99999999999999", past, "the far past (before year 1)"},
		{"-1e19", past, "the far past (before year 1)"},
		{"-1e400", past, "the far past (before year 1)"},
	}
	for _, tc := range tests {
		t.Run(tc.lit, func(t *testing.T) {
			var n jws.NumericDate
			if err := jsonv2.Unmarshal([]byte(tc.lit), &n); err != nil {
				t.Fatal(err)
			}
			got, err := n.Get()
			if err != nil || got == nil {
				t.Fatalf("Get() = %v, %v", got, err)
			}
			if !got.Time.Equal(tc.want) || !n.Time().Equal(tc.want) {
				t.Errorf("time = %v, want %v", got.Time, tc.want)
			}
			if s := n.String(); s != tc.text {
				t.Errorf("String() = %q, want %q", s, tc.text)
			}
		})
	}
	for _, doc := range []string{`"1800000000"`, `true`, `[1]`, `{}`, `null`} {
		var n jws.NumericDate
		if err := jsonv2.Unmarshal([]byte(doc), &n); err != nil {
			t.Fatal(err)
		}
		if _, err := n.Get(); err == nil || !n.Present() || n.Set() {
			t.Errorf("%s: Get() error %v, Present %v, Set %v; want an error, present, unset", doc, err, n.Present(), n.Set())
		}
	}
}

func TestAudience(t *testing.T) {
	tests := []struct {
		doc  string
		want []string
		ok   bool
	}{
		{`"a"`, []string{"a"}, true},
		{`["a","b"]`, []string{"a", "b"}, true},
		{`[]`, []string{}, true},
		{`null`, nil, true},
		{`[null,"a"]`, nil, false},
		{`["a",null]`, nil, false},
		{`[1,"a"]`, nil, false},
		{`[["a"]]`, nil, false},
		{`[{"a":1}]`, nil, false},
		{`{"a":"b"}`, nil, false},
		{`1`, nil, false},
		{`true`, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			var c struct {
				Aud jws.Audience `json:"aud"`
			}
			err := jws.DecodeClaims([]byte(`{"aud":`+tc.doc+`}`), &c)
			if tc.ok != (err == nil) {
				t.Fatalf("aud %s: %v; want ok=%v", tc.doc, err, tc.ok)
			}
			if !tc.ok {
				if ce, found := jws.AsClaimError(err); !found || ce.Claim != "aud" {
					t.Errorf("error %v names no aud ClaimError", err)
				}
				return
			}
			if strings.Join(c.Aud, "|") != strings.Join(tc.want, "|") || (c.Aud == nil) != (tc.want == nil) {
				t.Errorf("aud = %#v, want %#v", c.Aud, tc.want)
			}
		})
	}
}

func TestDecodeClaimsStrict(t *testing.T) {
	type claims struct {
		Iss string `json:"iss"`
	}
	for _, doc := range []string{`{"iss":"a","iss":"b"}`, "{\"iss\":\"\xff\"}", `null`, `[]`, `"x"`, ``, `{"iss":"a"} {}`} {
		var c claims
		if err := jws.DecodeClaims([]byte(doc), &c); err == nil {
			t.Errorf("DecodeClaims(%q) accepted", doc)
		}
	}
	var c claims
	if err := jws.DecodeClaims([]byte(` {"ISS":"a"}`), &c); err != nil || c.Iss != "" {
		t.Errorf(`{"ISS":"a"}: iss = %q, %v; want iss unset (names are case-sensitive)`, c.Iss, err)
	}
}

// FuzzDecodeSegment: a segment decodes only in its one canonical spelling.
func FuzzDecodeSegment(f *testing.F) {
	for _, s := range []string{"", "YQ", "YWI", "YWJj", "YR", "YQ==", "Y Q", "YQ\r\n", "a+b/", "-_-_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := jws.DecodeSegment(s)
		if err != nil {
			return
		}
		if again := base64.RawURLEncoding.EncodeToString(b); again != s {
			t.Fatalf("%q decoded to %q, which encodes as %q: two spellings of one value", s, b, again)
		}
	})
}

// FuzzNumericDate: any JSON number is a time in years 1 to 9999, and within
// that range the one ParseFloat reads.
func FuzzNumericDate(f *testing.F) {
	for _, s := range []string{"0", "1800000000", "1800000000.25", "-1", "1e19", "9.3e18", "9223372000000000000", "1e300", "1e400", "-1e19", "253402300799", "253402300800", "-62135596800", "-62135596801", "1E3", "-0", "0.000001"} {
		f.Add(s)
	}
	lo, hi := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	f.Fuzz(func(t *testing.T, lit string) {
		var n jws.NumericDate
		if err := jsonv2.Unmarshal([]byte(lit), &n); err != nil {
			return // not one JSON value
		}
		got, err := n.Get()
		if err != nil || got == nil {
			return // not a number: refused by the caller
		}
		tm := got.Time
		if tm.Before(lo) || tm.After(hi) {
			t.Fatalf("%s read as %v, outside years 1 to 9999", lit, tm)
		}
		v, perr := strconv.ParseFloat(strings.Trim(lit, " \t\r\n"), 64)
		switch {
		case perr != nil && !math.IsInf(v, 0):
			t.Fatalf("%s read as %v but is no number", lit, tm)
		case v > 253402300799:
			if !tm.Equal(hi) || !strings.Contains(n.String(), "far future") {
				t.Fatalf("%s read as %v (%s), want the far future", lit, tm, n.String())
			}
		case v < -62135596800:
			if !tm.Equal(lo) || !strings.Contains(n.String(), "far past") {
				t.Fatalf("%s read as %v (%s), want the far past", lit, tm, n.String())
			}
		default:
			if d := float64(tm.Unix()) + float64(tm.Nanosecond())/1e9 - v; math.Abs(d) > 1e-3 {
				t.Fatalf("%s read as %v, %gs off", lit, tm, d)
			}
		}
	})
}
