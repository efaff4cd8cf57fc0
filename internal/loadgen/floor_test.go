package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestFloorHandler(t *testing.T) {
	h, err := floorHandler(629)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		body string
		code int
		size int
	}{
		{"exchange", url.Values{"subject_token": {"x.y.z"}}.Encode(), http.StatusOK, 629},
		{"no subject token", "grant_type=x", http.StatusBadRequest, -1},
		{"bad form", "%zz", http.StatusBadRequest, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d", w.Code, tc.code)
			}
			if tc.size >= 0 && w.Body.Len() != tc.size {
				t.Fatalf("body %d bytes, want %d", w.Body.Len(), tc.size)
			}
		})
	}
}
