package issuer

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestHeaderCache(t *testing.T) {
	seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	count := func(c *headerCache) int {
		n := 0
		c.m.Range(func(any, any) bool { n++; return true })
		return n
	}
	var c headerCache

	good := seg(`{"alg":"RS256","kid":"k1","typ":"at+jwt","x-ignored":1}`)
	a, err := c.decode(good)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"alg": "RS256", "kid": "k1", "typ": "at+jwt", "x-ignored": float64(1)}; !reflect.DeepEqual(a, want) {
		t.Fatalf("header = %v, want %v", a, want)
	}
	b, _ := c.decode(good)
	if reflect.ValueOf(a).Pointer() != reflect.ValueOf(b).Pointer() {
		t.Error("the second decode of one header did not come from the cache")
	}

	for _, bad := range []string{"!!!", seg(`{"alg":"RS256","alg":"none"}`), seg(`not json`), seg(`{"kid":"\xff"}`)} {
		for range 2 {
			if _, err := c.decode(bad); err == nil {
				t.Errorf("header %q decoded", bad)
			}
		}
		if _, ok := c.m.Load(bad); ok {
			t.Errorf("undecodable header %q was cached", bad)
		}
	}

	long := seg(`{"alg":"RS256","kid":"` + strings.Repeat("k", headerCacheMaxKey) + `"}`)
	if _, err := c.decode(long); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.m.Load(long); ok {
		t.Error("a header longer than headerCacheMaxKey was cached")
	}

	// Ever new headers never grow the cache past its size.
	for i := range 3 * headerCacheSize {
		if _, err := c.decode(seg(fmt.Sprintf(`{"alg":"RS256","kid":"k%d"}`, i))); err != nil {
			t.Fatal(err)
		}
		if n := count(&c); n > headerCacheSize {
			t.Fatalf("after %d headers the cache holds %d, more than %d", i+1, n, headerCacheSize)
		}
	}
	if h, err := c.decode(good); err != nil || h["kid"] != "k1" {
		t.Errorf("after the cache was emptied: %v, %v", h, err)
	}
}
