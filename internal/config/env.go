package config

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/sethvargo/go-envconfig"
)

// Env holds the process settings of SPEC §2. Tests pass a map Lookuper.
type Env struct {
	Config   string `env:"TOKEX_CONFIG"`
	Addr     string `env:"TOKEX_ADDR, default=:8080"`
	Issuer   string `env:"TOKEX_ISSUER"`
	Keys     string `env:"TOKEX_KEYS"`
	LogLevel string `env:"TOKEX_LOG_LEVEL, default=info"`
}

// LoadEnv reads Env through l (envconfig.OsLookuper() in production).
func LoadEnv(ctx context.Context, l envconfig.Lookuper) (Env, error) {
	var e Env
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &e, Lookuper: l}); err != nil {
		return Env{}, fmt.Errorf("read environment: %w", err)
	}
	if _, err := e.Level(); err != nil {
		return Env{}, err
	}
	return e, nil
}

// Level parses LogLevel.
func (e Env) Level() (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(e.LogLevel)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("TOKEX_LOG_LEVEL: %q is not one of debug, info, warn, error", e.LogLevel)
}
