package config_test

import (
	"context"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/tokex/tokex/internal/config"
)

func TestLoadEnvTLS(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{name: "none: plain HTTP", env: map[string]string{}, ok: true},
		{name: "certificate and key", env: map[string]string{"TOKEX_TLS_CERT": "c.pem", "TOKEX_TLS_KEY": "k.pem"}, ok: true},
		{name: "with a client CA", env: map[string]string{"TOKEX_TLS_CERT": "c.pem", "TOKEX_TLS_KEY": "k.pem", "TOKEX_TLS_CLIENT_CA": "ca.pem"}, ok: true},
		{name: "certificate without key", env: map[string]string{"TOKEX_TLS_CERT": "c.pem"}},
		{name: "key without certificate", env: map[string]string{"TOKEX_TLS_KEY": "k.pem"}},
		{name: "client CA without HTTPS", env: map[string]string{"TOKEX_TLS_CLIENT_CA": "ca.pem"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := config.LoadEnv(context.Background(), envconfig.MapLookuper(tc.env))
			if (err == nil) != tc.ok {
				t.Fatalf("LoadEnv = %+v, %v; want ok=%v", e, err, tc.ok)
			}
			if tc.ok && (e.TLSCert != tc.env["TOKEX_TLS_CERT"] || e.TLSClientCA != tc.env["TOKEX_TLS_CLIENT_CA"]) {
				t.Errorf("env = %+v", e)
			}
		})
	}
}
