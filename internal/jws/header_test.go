package jws

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestHeaderCache(t *testing.T) {
	seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	var c HeaderCache

	good := seg(`{"alg":"RS256","kid":"k1","typ":"at+jwt","x-ignored":1}`)
	a, err := c.Decode(good)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"alg": "RS256", "kid": "k1", "typ": "at+jwt", "x-ignored": float64(1)}; !reflect.DeepEqual(a, want) {
		t.Fatalf("header = %v, want %v", a, want)
	}
	b, _ := c.Decode(good)
	if reflect.ValueOf(a).Pointer() != reflect.ValueOf(b).Pointer() {
		t.Error("the second decode of one header did not come from the cache")
	}

	for _, bad := range []string{"!!!", seg(`{"alg":"RS256","alg":"none"}`), seg(`not json`), seg(`{"kid":"\xff"}`)} {
		for range 2 {
			if _, err := c.Decode(bad); err == nil {
				t.Errorf("header %q decoded", bad)
			}
		}
		if _, ok := c.m.Load(bad); ok {
			t.Errorf("undecodable header %q was cached", bad)
		}
	}

	long := seg(`{"alg":"RS256","kid":"` + strings.Repeat("k", HeaderCacheMaxKey) + `"}`)
	if _, err := c.Decode(long); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.m.Load(long); ok {
		t.Error("a header longer than HeaderCacheMaxKey was cached")
	}

	// Ever new headers never grow the cache past its size.
	for i := range 3 * HeaderCacheSize {
		if _, err := c.Decode(seg(fmt.Sprintf(`{"alg":"RS256","kid":"k%d"}`, i))); err != nil {
			t.Fatal(err)
		}
		if n := c.Len(); n > HeaderCacheSize {
			t.Fatalf("after %d headers the cache holds %d, more than %d", i+1, n, HeaderCacheSize)
		}
	}
	if h, err := c.Decode(good); err != nil || h["kid"] != "k1" {
		t.Errorf("after the cache was emptied: %v, %v", h, err)
	}
}
