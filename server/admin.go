package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/store"
)

// Revoker keeps the list of revoked tokens.
type Revoker interface {
	Revoke(ctx context.Context, rev store.Revocation) error
	List(ctx context.Context) ([]store.Revocation, error)
}

// adminConfig serves GET /admin/config: the effective configuration, with
// secrets redacted by whoever built it.
func (s *Server) adminConfig(c echo.Context) error {
	return c.JSON(http.StatusOK, exchangeOf(c).settings.settings)
}

type revokeRequest struct {
	TokenID string `json:"jti"`
	Reason  string `json:"reason"`
}

// revokeToken serves POST /admin/tokens/revoke.
func (s *Server) revokeToken(c echo.Context) error {
	if s.cfg.Revocations == nil {
		return requestError(http.StatusNotImplemented, "", "this server keeps no revocation list")
	}
	var body revokeRequest
	if err := s.decodeBody(c, &body); err != nil {
		return err
	}
	if body.TokenID == "" || len(body.TokenID) > 256 {
		return invalidParam("jti", "jti must name the token to revoke (1 to 256 bytes)")
	}
	// The reason is free text, kept in revocations.db and in this call's
	// record: it is redacted here, whatever Revoker stores it.
	reason := store.RedactReason(body.Reason)
	exchangeOf(c).detail = fmt.Sprintf("revoke jti=%s reason=%q", body.TokenID, reason)
	err := s.cfg.Revocations.Revoke(c.Request().Context(), store.Revocation{
		TokenID: body.TokenID, RevokedAt: time.Now(), RevokedBy: identity(c).Subject, Reason: reason,
		Audited: true, // this call's own audit record says so
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"revoked": body.TokenID})
}

// listRevoked serves GET /admin/tokens/revoked.
func (s *Server) listRevoked(c echo.Context) error {
	if s.cfg.Revocations == nil {
		return requestError(http.StatusNotImplemented, "", "this server keeps no revocation list")
	}
	list, err := s.cfg.Revocations.List(c.Request().Context())
	if err != nil {
		return err
	}
	type entry struct {
		TokenID   string    `json:"jti"`
		RevokedAt time.Time `json:"revoked_at"`
		RevokedBy string    `json:"revoked_by"`
		Reason    string    `json:"reason"`
	}
	out := []entry{}
	for _, r := range list {
		out = append(out, entry{r.TokenID, r.RevokedAt, r.RevokedBy, r.Reason})
	}
	return c.JSON(http.StatusOK, map[string]any{"object": "list", "data": out})
}

// CPUKernelsJSON is engine.CPUKernels as GET /admin/models shows it (and
// warden ps reads it).
type CPUKernelsJSON struct {
	Variant  string   `json:"variant"`
	Features []string `json:"features"`
	Library  string   `json:"library,omitempty"`
	Note     string   `json:"note,omitempty"`
}

// ModelLoader loads models as the lockfile allows.
type ModelLoader interface {
	// Load verifies the model the lockfile names and loads it.
	Load(ctx context.Context, name string) (engine.Generator, error)
	// StillPinned re-reads the lockfile and says why a loaded model may no
	// longer be served (its entry gone or changed), or nil.
	StillPinned(ctx context.Context, info engine.ModelInfo) error
}

// unloadWait bounds how long an unload lets running requests finish.
const unloadWait = 30 * time.Second

type modelRequest struct {
	Model string `json:"model"`
}

// adminModels serves GET /admin/models: what is loaded.
func (s *Server) adminModels(c echo.Context) error {
	type entry struct {
		Name         string `json:"name"`
		Path         string `json:"path"`
		SHA256       string `json:"sha256"`
		Architecture string `json:"architecture"`
		Context      int    `json:"context"`
		Template     string `json:"template"`
		LoadedAt     int64  `json:"loaded_at"`

		Stats *ModelStats `json:"stats,omitempty"` // when the engine can tell
	}
	out := []entry{}
	for _, m := range s.models.list() {
		out = append(out, entry{m.Name, m.Path, m.SHA256, m.Architecture, m.Context, m.Template, m.Created,
			s.models.statsJSON(m.Name)})
	}
	resp := map[string]any{"object": "list", "data": out}
	if k := s.cfg.CPUKernels; k.Variant != "" {
		resp["cpu_kernels"] = CPUKernelsJSON{Variant: k.Variant, Features: k.Features, Library: k.Library, Note: k.Note}
	}
	if s.cfg.Docs.DB != nil {
		resp["embedding_model"] = s.cfg.Docs.EmbeddingModel // the document base's, loaded or not
	}
	return c.JSON(http.StatusOK, resp)
}

func (s *Server) adminModelName(c echo.Context) (string, error) {
	var body modelRequest
	if err := s.decodeBody(c, &body); err != nil {
		return "", err
	}
	if body.Model == "" || len(body.Model) > 256 {
		return "", invalidParam("model", "model must name a model (1 to 256 bytes)")
	}
	s.nameModel(exchangeOf(c), body.Model)
	return body.Model, nil
}

// noteAdminModel sets the detail of a load or unload once it is done: by
// then a model just loaded is served, and its name is no longer unknown
// client text (recordedModel).
func (s *Server) noteAdminModel(c echo.Context) {
	x := exchangeOf(c)
	x.detail = "model=" + s.recordedModel(x)
}

// loadModel serves POST /admin/models/load: verify against the lockfile,
// load, serve.
func (s *Server) loadModel(c echo.Context) error {
	if s.cfg.Loader == nil {
		return requestError(http.StatusNotImplemented, "", "this server cannot load models at run time")
	}
	name, err := s.adminModelName(c)
	if err != nil {
		return err
	}
	defer s.noteAdminModel(c)
	if _, loaded := s.models.info(name); loaded {
		return requestError(http.StatusConflict, "model_loaded", fmt.Sprintf("model %q is already loaded", name)).withParam("model")
	}
	gen, err := s.cfg.Loader.Load(c.Request().Context(), name)
	if err != nil {
		// The loader's message quotes the name, which may be anything.
		recorded := s.recordedModel(exchangeOf(c))
		s.log.Warn("admin model load refused", "model", recorded, "err", scrubName(err.Error(), name, recorded))
		return requestError(http.StatusUnprocessableEntity, "model_refused", err.Error()).withParam("model")
	}
	if err := s.models.add(gen, s.modelFailed); err != nil {
		if c, ok := gen.(io.Closer); ok {
			c.Close()
		}
		return requestError(http.StatusConflict, "model_loaded", err.Error()).withParam("model")
	}
	s.log.Info("model loaded by admin", "model", s.recordedModel(exchangeOf(c)), "by", identity(c).Subject)
	return c.JSON(http.StatusOK, map[string]any{"loaded": name})
}

// modelFailed reports a model unloaded because its engine was given up;
// the engine's supervisor has recorded the crashes that led to it.
func (s *Server) modelFailed(name string, why error) {
	s.log.Error("MODEL UNLOADED: its engine process was given up; load it again with POST /admin/models/load once the cause is fixed",
		"model", name, "why", why)
}

// unloadModel serves POST /admin/models/unload.
func (s *Server) unloadModel(c echo.Context) error {
	name, err := s.adminModelName(c)
	if err != nil {
		return err
	}
	defer s.noteAdminModel(c)
	ctx, cancel := context.WithTimeout(c.Request().Context(), unloadWait)
	defer cancel()
	if err := s.models.unload(ctx, name); err != nil {
		return modelNotFound(name)
	}
	s.log.Info("model unloaded by admin", "model", s.recordedModel(exchangeOf(c)), "by", identity(c).Subject)
	return c.JSON(http.StatusOK, map[string]any{"unloaded": name})
}

// reload serves POST /admin/reload: see Server.Reload.
func (s *Server) reload(c echo.Context) error {
	rep, err := s.Reload(c.Request().Context())
	if err != nil {
		s.log.Error("reload refused", "err", err)
		return requestError(http.StatusUnprocessableEntity, "invalid_configuration", err.Error())
	}
	exchangeOf(c).detail = fmt.Sprintf("reload config=%t kept=%v unloaded=%d need_restart=%v",
		rep.Config, rep.KeptModels, len(rep.UnloadedModels), rep.NeedRestart)
	return c.JSON(http.StatusOK, rep)
}

// Close stops background indexing (files still queued or running are
// marked failed) and unloads every model, letting running requests finish
// until ctx ends. Serve stops indexing itself once the HTTP server has
// drained; a server used through Handler alone needs Close before its
// document base is closed.
func (s *Server) Close(ctx context.Context) {
	s.indexer.stop()
	s.models.closeAll(ctx)
}
