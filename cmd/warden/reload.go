package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/warden-llm/warden/auth"
	"github.com/warden-llm/warden/server"
	"github.com/warden-llm/warden/store"
	"github.com/warden-llm/warden/store/audit"
)

// reloadable reports whether a key takes effect on reload; every other
// key needs a restart.
func reloadable(key string) bool {
	switch key {
	case "auth.keys", "auth.jwks_url", "auth.issuer", "auth.audience", "auth.max_ttl", "auth.skew",
		"limits.requests_per_minute", "limits.tokens_per_minute":
		return true
	}
	return false
}

// configReloader reads the configuration again for a running serve: the
// same file and environment, under the same command-line flags.
type configReloader struct {
	jwks    *jwksSources
	g       *globalOptions
	started *cobra.Command // serve as it started, flags and all
	dir     store.Dir
	revs    auth.RevocationList
}

// ReloadConfig implements server.Reloader.
func (r *configReloader) ReloadConfig(context.Context) (server.Reloadable, []string, error) {
	cfg, err := loadConfig(r.g.config)
	if err != nil {
		return server.Reloadable{}, nil, err
	}
	var o serveOptions
	next := serveCommand(r.g, &o)
	// The command line still wins: give the new command the same flags.
	var copyErr error
	r.started.Flags().Visit(func(f *pflag.Flag) {
		if nf := next.Flags().Lookup(f.Name); nf != nil && r.g.cfg.cmdline[f.Name] && copyErr == nil {
			copyErr = copyFlag(next.Flags(), nf, f)
		}
	})
	if copyErr != nil {
		return server.Reloadable{}, nil, copyErr
	}
	if err := cfg.apply(next); err != nil {
		return server.Reloadable{}, nil, err
	}
	if err := o.validate(); err != nil {
		return server.Reloadable{}, nil, err
	}
	rel := server.Reloadable{RequestsPerMinute: o.rateRequests, TokensPerMinute: o.rateTokens, Settings: settings(next, cfg)}
	if o.auth.enabled {
		v, err := o.auth.verifier(r.dir, r.revs, r.jwks)
		if err != nil {
			return server.Reloadable{}, nil, err
		}
		rel.Auth = v
	}
	return rel, changedKeys(r.g.cfg, r.started, cfg, next), nil
}

func copyFlag(dst *pflag.FlagSet, to, from *pflag.Flag) error {
	if sv, ok := from.Value.(pflag.SliceValue); ok {
		return to.Value.(pflag.SliceValue).Replace(sv.GetSlice())
	}
	return dst.Set(to.Name, from.Value.String())
}

// changedKeys lists the keys whose value differs and that a reload
// cannot apply.
func changedKeys(oldCfg *config, old *cobra.Command, newCfg *config, next *cobra.Command) []string {
	before := map[string]string{}
	for _, e := range oldCfg.effective(old) {
		before[e.Key] = e.Value
	}
	var out []string
	for _, e := range newCfg.effective(next) {
		if before[e.Key] != e.Value && !reloadable(e.Key) {
			out = append(out, e.Key)
		}
	}
	return out
}

// notifyHangup catches SIGHUP from now on, so that a SIGHUP arriving
// once serve is ready never takes the default action (exit).
func notifyHangup() chan os.Signal {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup
}

// reloadOnHangup reloads on every SIGHUP until ctx ends, recording each
// reload in the audit log as the admin endpoint's are.
func reloadOnHangup(ctx context.Context, hup chan os.Signal, srv *server.Server, l *audit.Log, log *slog.Logger) {
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		rep, err := srv.Reload(ctx)
		detail := fmt.Sprintf("SIGHUP config=%t kept=%v unloaded=%d need_restart=%v",
			rep.Config, rep.KeptModels, len(rep.UnloadedModels), rep.NeedRestart)
		if err != nil {
			log.Error("reload refused", "err", err)
			detail = "SIGHUP refused: " + err.Error()
		}
		if err := l.Submit(ctx, audit.Record{Kind: audit.KindSystem, Action: "reload", Detail: detail}); err != nil {
			log.Error("AUDIT RECORD LOST", "action", "reload", "err", err)
		}
	}
}
