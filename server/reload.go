package server

import (
	"context"
	"fmt"
)

// Reloadable is the part of the configuration a running server can
// change without a restart.
type Reloadable struct {
	Auth              Authenticator // nil only if authentication was off from the start
	RequestsPerMinute int
	TokensPerMinute   int
	Settings          any // what GET /admin/config shows
}

// Reloader reads the configuration again. It returns the new reloadable
// settings and the keys that changed but need a restart; an error means
// the new configuration is invalid and nothing changes.
type Reloader interface {
	ReloadConfig(ctx context.Context) (Reloadable, []string, error)
}

// live holds the reloadable settings in force; requests read it once.
type live struct {
	auth     Authenticator
	requests *limiter
	tokens   *limiter
	settings any
}

func (s *Server) current() *live { return s.live.Load() }

func (s *Server) install(r Reloadable) {
	s.live.Store(&live{
		auth:     r.Auth,
		requests: newLimiter(r.RequestsPerMinute, s.now),
		tokens:   newLimiter(r.TokensPerMinute, s.now),
		settings: r.Settings,
	})
}

// ReloadReport says what a reload did.
type ReloadReport struct {
	Config         bool      `json:"config"`       // the configuration was read again and applied
	NeedRestart    []string  `json:"need_restart"` // changed keys that take effect on restart only
	KeptModels     []string  `json:"kept"`         // models the lockfile still pins
	UnloadedModels []dropped `json:"unloaded"`     // models it no longer pins, now unloaded
}

type dropped struct {
	Model  string `json:"model"`
	Reason string `json:"reason"`
}

// Reload applies a new configuration, if it is valid, then checks every
// loaded model against the lockfile. A bad configuration is refused whole
// and the old one keeps serving. SIGHUP and POST /admin/reload both end
// here.
func (s *Server) Reload(ctx context.Context) (ReloadReport, error) {
	rep := ReloadReport{NeedRestart: []string{}, KeptModels: []string{}, UnloadedModels: []dropped{}}
	if s.cfg.Reloader != nil {
		next, restart, err := s.cfg.Reloader.ReloadConfig(ctx)
		if err != nil {
			return rep, fmt.Errorf("new configuration refused, the old one stays: %w", err)
		}
		if (next.Auth == nil) != (s.current().auth == nil) {
			restart = append(restart, "auth.enabled")
			next.Auth = s.current().auth
		}
		s.install(next)
		rep.Config, rep.NeedRestart = true, append(rep.NeedRestart, restart...)
	}
	if s.cfg.Loader != nil {
		for _, info := range s.models.list() {
			err := s.cfg.Loader.StillPinned(ctx, info)
			if err == nil {
				rep.KeptModels = append(rep.KeptModels, info.Name)
				continue
			}
			uctx, cancel := context.WithTimeout(ctx, unloadWait)
			uerr := s.models.unload(uctx, info.Name)
			cancel()
			if uerr == nil {
				rep.UnloadedModels = append(rep.UnloadedModels, dropped{info.Name, err.Error()})
				s.log.Warn("model unloaded on reload: no longer pinned", "model", info.Name, "reason", err)
			}
		}
	}
	s.log.Info("reloaded", "config", rep.Config, "need_restart", rep.NeedRestart,
		"kept", rep.KeptModels, "unloaded", len(rep.UnloadedModels))
	return rep, nil
}
