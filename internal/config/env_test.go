package config_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/tokex/tokex/internal/config"
)

func TestLoadEnv(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		want      config.Env
		wantLevel slog.Level
		wantErr   bool
	}{
		{
			name:      "defaults",
			env:       map[string]string{},
			want:      config.Env{Addr: ":8080", LogLevel: "info"},
			wantLevel: slog.LevelInfo,
		},
		{
			name: "every setting",
			env: map[string]string{
				"TOKEX_CONFIG": "/etc/tokex/policy.yaml", "TOKEX_ADDR": "127.0.0.1:9000",
				"TOKEX_ISSUER": "https://sts.example.com", "TOKEX_KEYS": "/run/keys.json", "TOKEX_LOG_LEVEL": "debug",
			},
			want: config.Env{
				Config: "/etc/tokex/policy.yaml", Addr: "127.0.0.1:9000",
				Issuer: "https://sts.example.com", Keys: "/run/keys.json", LogLevel: "debug",
			},
			wantLevel: slog.LevelDebug,
		},
		{name: "warn", env: map[string]string{"TOKEX_LOG_LEVEL": "warn"}, want: config.Env{Addr: ":8080", LogLevel: "warn"}, wantLevel: slog.LevelWarn},
		{name: "warning, any case", env: map[string]string{"TOKEX_LOG_LEVEL": " WARNING "}, want: config.Env{Addr: ":8080", LogLevel: " WARNING "}, wantLevel: slog.LevelWarn},
		{name: "error", env: map[string]string{"TOKEX_LOG_LEVEL": "Error"}, want: config.Env{Addr: ":8080", LogLevel: "Error"}, wantLevel: slog.LevelError},
		{name: "unknown variables are ignored", env: map[string]string{"TOKEX_COLOUR": "blue"}, want: config.Env{Addr: ":8080", LogLevel: "info"}, wantLevel: slog.LevelInfo},
		{name: "bad log level", env: map[string]string{"TOKEX_LOG_LEVEL": "verbose"}, wantErr: true},
		{name: "numeric log level", env: map[string]string{"TOKEX_LOG_LEVEL": "4"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := config.LoadEnv(context.Background(), envconfig.MapLookuper(tc.env))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("LoadEnv = %+v, want an error", got)
				}
				if got != (config.Env{}) {
					t.Errorf("LoadEnv returned %+v with its error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadEnv: %v", err)
			}
			if got != tc.want {
				t.Errorf("LoadEnv = %+v, want %+v", got, tc.want)
			}
			lvl, err := got.Level()
			if err != nil || lvl != tc.wantLevel {
				t.Errorf("Level() = %v, %v; want %v", lvl, err, tc.wantLevel)
			}
		})
	}
}
