package config_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

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
			// The HTTP settings are checked by TestLoadEnvHTTPSettings.
			core := config.Env{Config: got.Config, Addr: got.Addr, Issuer: got.Issuer, Keys: got.Keys, LogLevel: got.LogLevel}
			if core != tc.want {
				t.Errorf("LoadEnv = %+v, want %+v", core, tc.want)
			}
			lvl, err := got.Level()
			if err != nil || lvl != tc.wantLevel {
				t.Errorf("Level() = %v, %v; want %v", lvl, err, tc.wantLevel)
			}
		})
	}
}

func TestLoadEnvHTTPSettings(t *testing.T) {
	e, err := config.LoadEnv(context.Background(), envconfig.MapLookuper(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if e.ReadHeaderTimeout != 5*time.Second || e.ReadTimeout != 10*time.Second || e.WriteTimeout != 15*time.Second ||
		e.IdleTimeout != 90*time.Second || e.MaxBodyBytes != 64<<10 || e.ShutdownGrace != 15*time.Second ||
		e.ShutdownDelay != 0 || e.ReloadInterval != 5*time.Second || e.AuditFlush != 100*time.Millisecond {
		t.Errorf("defaults = %+v", e)
	}
	tests := []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{name: "custom values", env: map[string]string{"TOKEX_READ_TIMEOUT": "3s", "TOKEX_MAX_BODY_BYTES": "131072", "TOKEX_SHUTDOWN_GRACE": "0s"}, ok: true},
		{name: "zero timeout", env: map[string]string{"TOKEX_WRITE_TIMEOUT": "0s"}},
		{name: "negative grace", env: map[string]string{"TOKEX_SHUTDOWN_GRACE": "-1s"}},
		{name: "body too small", env: map[string]string{"TOKEX_MAX_BODY_BYTES": "100"}},
		{name: "body too large", env: map[string]string{"TOKEX_MAX_BODY_BYTES": "104857600"}},
		{name: "not a duration", env: map[string]string{"TOKEX_IDLE_TIMEOUT": "soon"}},
		{name: "reload on SIGHUP only, shutdown delay", env: map[string]string{"TOKEX_RELOAD_INTERVAL": "0s", "TOKEX_SHUTDOWN_DELAY": "5s"}, ok: true},
		{name: "reload interval too short", env: map[string]string{"TOKEX_RELOAD_INTERVAL": "1ms"}},
		{name: "negative shutdown delay", env: map[string]string{"TOKEX_SHUTDOWN_DELAY": "-1s"}},
		{name: "audit written at once", env: map[string]string{"TOKEX_AUDIT_FLUSH": "0s"}, ok: true},
		{name: "audit flush too rare", env: map[string]string{"TOKEX_AUDIT_FLUSH": "1m"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.LoadEnv(context.Background(), envconfig.MapLookuper(tc.env))
			if (err == nil) != tc.ok {
				t.Errorf("LoadEnv(%v) error = %v, want ok=%v", tc.env, err, tc.ok)
			}
		})
	}
}

func TestLoadEnvRedis(t *testing.T) {
	e, err := config.LoadEnv(context.Background(), envconfig.MapLookuper(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if e.RedisURL != "" || e.RedisKeyPrefix != "tokex:" || e.RedisMode != "single" || e.RedisTimeout != 500*time.Millisecond ||
		e.RedisDialTimeout != time.Second || e.RedisRateLimitFailure != config.FailOpen {
		t.Errorf("defaults = %+v", e)
	}
	tests := []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{name: "url", env: map[string]string{"TOKEX_REDIS_URL": "redis://redis:6379/0"}, ok: true},
		{name: "tls, password file, fail closed", env: map[string]string{"TOKEX_REDIS_URL": "rediss://tokex@redis:6380", "TOKEX_REDIS_PASSWORD_FILE": "/run/secrets/redis", "TOKEX_REDIS_RATE_LIMIT_FAILURE": "closed"}, ok: true},
		{name: "sentinel", env: map[string]string{"TOKEX_REDIS_URL": "redis://s1:26379?master_name=m&addr=s2:26379", "TOKEX_REDIS_MODE": "sentinel"}, ok: true},
		{name: "not a redis url", env: map[string]string{"TOKEX_REDIS_URL": "http://redis:6379"}},
		{name: "unknown mode", env: map[string]string{"TOKEX_REDIS_URL": "redis://r", "TOKEX_REDIS_MODE": "ring"}},
		{name: "unknown failure mode", env: map[string]string{"TOKEX_REDIS_URL": "redis://r", "TOKEX_REDIS_RATE_LIMIT_FAILURE": "maybe"}},
		{name: "zero timeout", env: map[string]string{"TOKEX_REDIS_URL": "redis://r", "TOKEX_REDIS_TIMEOUT": "0s"}},
		{name: "password file without url", env: map[string]string{"TOKEX_REDIS_PASSWORD_FILE": "/run/secrets/redis"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.LoadEnv(context.Background(), envconfig.MapLookuper(tc.env))
			if (err == nil) != tc.ok {
				t.Errorf("LoadEnv(%v) error = %v, want ok=%v", tc.env, err, tc.ok)
			}
		})
	}
}
