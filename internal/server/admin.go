package server

import (
	"encoding/json"
	"net/http"
	httppprof "net/http/pprof"

	"github.com/tokex/tokex/api"
)

// NewAdmin is the admin listener's handler (TOKEX_ADMIN_ADDR): /metrics in the
// Prometheus text format, /healthz and /readyz, and with pprof the Go
// profiles under /debug/pprof/ (TOKEX_ADMIN_PPROF). It is kept off the public
// port so that metrics and profiles are never exposed to token clients.
func NewAdmin(metrics http.Handler, ready func() (bool, map[string]string), pprof bool) http.Handler {
	mux := http.NewServeMux()
	if pprof {
		// Registered on this mux only: net/http/pprof's init also registers on
		// http.DefaultServeMux, which no tokex listener serves.
		mux.HandleFunc("GET /debug/pprof/", httppprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", httppprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", httppprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", httppprof.Trace)
	}
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
