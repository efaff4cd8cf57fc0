package reload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"time"

	"github.com/tokex/tokex/internal/app"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/policy"
)

// Options build a Reloader.
type Options struct {
	App        *app.App
	PolicyFile string           // "": the policy is not reloaded (demo mode)
	Overrides  config.Overrides // TOKEX_ISSUER and TOKEX_KEYS, applied to every reload as at start
	KeysFile   string           // the keys file in use; "": an ephemeral key, not reloaded
	Logger     *slog.Logger
	Interval   time.Duration // how often files are checked; 0: only when triggered
	Warm       time.Duration // how long a new policy's issuers may take to load their keys; default 10s
}

// Reloader reloads the policy and keys files when they change.
type Reloader struct {
	o                  Options
	log                *slog.Logger
	keysFile           string
	policySum, keysSum [sha256.Size]byte
	lastReadErr        map[string]string // per file: the read error last logged, so a missing file is logged once
}

// New builds a Reloader that takes the files' current contents as the ones
// running.
func New(o Options) *Reloader {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Warm <= 0 {
		o.Warm = 10 * time.Second
	}
	r := &Reloader{o: o, log: o.Logger, keysFile: o.KeysFile, lastReadErr: map[string]string{}}
	if b, err := os.ReadFile(o.PolicyFile); o.PolicyFile != "" && err == nil {
		r.policySum = sha256.Sum256(b)
	}
	if b, err := os.ReadFile(o.KeysFile); o.KeysFile != "" && err == nil {
		r.keysSum = sha256.Sum256(b)
	}
	return r
}

// Run checks the files every Interval, and reloads them unconditionally
// whenever trigger delivers (SIGHUP), until ctx ends.
func (r *Reloader) Run(ctx context.Context, trigger <-chan os.Signal) {
	var tick <-chan time.Time
	if r.o.Interval > 0 {
		t := time.NewTicker(r.o.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			r.Check(ctx, false)
		case <-trigger:
			r.log.Info("reload requested (SIGHUP)")
			r.Check(ctx, true)
		}
	}
}

// Check reloads the policy and then the keys file if their contents changed,
// or in any case when force is set. It reports whether everything it tried
// to load is now running.
func (r *Reloader) Check(ctx context.Context, force bool) bool {
	ok := true
	if r.o.PolicyFile != "" {
		keysBefore := r.keysFile
		ok = r.checkPolicy(ctx, force)
		force = force || r.keysFile != keysBefore // a new keys path is loaded now
	}
	if r.keysFile != "" {
		ok = r.checkKeys(force) && ok
	}
	return ok
}

func (r *Reloader) checkPolicy(ctx context.Context, force bool) bool {
	file := r.o.PolicyFile
	data, changed, ok := r.read("policy", file, &r.policySum, force)
	if !ok || !changed {
		return ok
	}
	err := r.swapPolicy(ctx, data)
	r.o.App.CountReload("policy", err)
	if err != nil {
		r.log.Error("policy reload failed; the running policy stays in force", "file", file, "error", err)
		return false
	}
	return true
}

func (r *Reloader) swapPolicy(ctx context.Context, data []byte) error {
	file := r.o.PolicyFile
	start := time.Now()
	pol, err := config.ParsePolicy(data, file, r.o.Overrides)
	if err != nil {
		return err
	}
	compiled, err := policy.Compile(pol)
	if err != nil {
		return err
	}
	if err := r.o.App.SwapPolicy(ctx, compiled, r.o.Warm); err != nil {
		return err
	}
	for _, w := range compiled.Warnings {
		r.log.Warn("policy: "+w, "file", file)
	}
	r.log.Info("policy reloaded", "file", file, "sha256", short(r.policySum), "rules", len(compiled.Rules),
		"issuers", len(pol.Issuers), "clients", len(pol.Clients), "took", time.Since(start).String())
	switch {
	case pol.Keys == r.keysFile:
	case pol.Keys == "":
		r.log.Warn("the reloaded policy names no keys file; keeping the keys in use (an ephemeral key would break every downstream cache)", "keys", r.keysFile)
	default:
		r.log.Info("the reloaded policy names another keys file; loading it", "keys", pol.Keys, "was", r.keysFile)
		r.keysFile = pol.Keys
	}
	return nil
}

func (r *Reloader) checkKeys(force bool) bool {
	file := r.keysFile
	data, changed, ok := r.read("keys", file, &r.keysSum, force)
	if !ok || !changed {
		return ok
	}
	ks, err := keys.Parse(data, file)
	r.o.App.CountReload("keys", err)
	if err != nil {
		r.log.Error("keys reload failed; the running key set stays in force", "file", file, "error", err)
		return false
	}
	r.o.App.SwapKeys(ks)
	r.log.Info("keys reloaded", "file", file, "sha256", short(r.keysSum), "active_kid", ks.Active().KID, "keys", len(ks.Keys()))
	return true
}

// read returns file's contents and whether they differ from *sum (recording
// them as seen). A read error is logged once per distinct error and counted.
func (r *Reloader) read(what, file string, sum *[sha256.Size]byte, force bool) (data []byte, changed, ok bool) {
	data, err := os.ReadFile(file)
	if err != nil {
		if msg := err.Error(); r.lastReadErr[file] != msg {
			r.lastReadErr[file] = msg
			r.o.App.CountReload(what, err)
			r.log.Error("cannot read "+what+" file; what is running stays in force", "file", file, "error", err)
		}
		return nil, false, false
	}
	delete(r.lastReadErr, file)
	s := sha256.Sum256(data)
	if s == *sum && !force {
		return data, false, true
	}
	*sum = s
	return data, true, true
}

// short is a hash prefix that names a file's version in the log.
func short(sum [sha256.Size]byte) string { return hex.EncodeToString(sum[:6]) }
