package server

import (
	"encoding/json"
	"net/http"

	"github.com/tokex/tokex/api"
)

// NewAdmin is the admin listener's handler (TOKEX_ADMIN_ADDR): /metrics in the
// Prometheus text format, /healthz and /readyz. It is kept off the public port
// so that metrics are not exposed to token clients.
func NewAdmin(metrics http.Handler, ready func() (bool, map[string]string)) http.Handler {
	mux := http.NewServeMux()
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeHealth(w, http.StatusOK, api.HealthResponse{Status: "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, checks := true, map[string]string(nil)
		if ready != nil {
			ok, checks = ready()
		}
		if !ok {
			writeHealth(w, http.StatusServiceUnavailable, api.HealthResponse{Status: "unavailable", Checks: checks})
			return
		}
		writeHealth(w, http.StatusOK, api.HealthResponse{Status: "ready", Checks: checks})
	})
	return mux
}

func writeHealth(w http.ResponseWriter, code int, v api.HealthResponse) {
	b, _ := json.Marshal(v) // a map of strings always encodes
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
