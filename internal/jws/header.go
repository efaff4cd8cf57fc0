package jws

import (
	"sync"
	"sync/atomic"

	jsonv2 "github.com/go-json-experiment/json"
)

// DecodeHeader decodes a JOSE header (RFC 7515 §4) as jwt.Token.Header holds
// it: every member, strings as string; a duplicate name is an error.
func DecodeHeader(seg string) (map[string]any, error) {
	b, err := DecodeSegment(seg)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := jsonv2.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m == nil { // the JSON null
		return nil, errNotObject
	}
	return m, nil
}

// HeaderCache keeps decoded JOSE headers by their encoded segment: an issuer
// signs every token with the same few headers, and each decode is a base64
// and a JSON decode on every exchange. Only headers that decode are kept, and
// the cache is emptied when full, so a client sending ever new headers costs
// only itself the decode. A cached map is shared by every token with that
// header: it is read, never written (jwt.Token.Header; keyfunc only reads).
// The zero value is ready to use.
type HeaderCache struct {
	m sync.Map // encoded segment -> map[string]any
	n atomic.Int32
}

const (
	// HeaderCacheSize is the most headers a cache holds.
	HeaderCacheSize = 256
	// HeaderCacheMaxKey is the longest encoded header worth keeping.
	HeaderCacheMaxKey = 1024
)

// Decode is DecodeHeader through the cache.
func (c *HeaderCache) Decode(seg string) (map[string]any, error) {
	if v, ok := c.m.Load(seg); ok {
		return v.(map[string]any), nil
	}
	m, err := DecodeHeader(seg)
	if err != nil {
		return nil, err
	}
	if len(seg) <= HeaderCacheMaxKey {
		if c.n.Add(1) > HeaderCacheSize {
			c.m.Clear()
			c.n.Store(1)
		}
		c.m.Store(seg, m)
	}
	return m, nil
}

// Len is the number of cached headers, for tests.
func (c *HeaderCache) Len() int {
	n := 0
	c.m.Range(func(any, any) bool { n++; return true })
	return n
}
