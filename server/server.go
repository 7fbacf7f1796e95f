// Package server serves loaded models over HTTP with OpenAI's wire format:
// the routes, request decoding and checking, streaming, and the error shape
// every client library expects.
package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/auth"
	"github.com/warden-llm/warden/engine"
)

// Config holds what a Server serves and how.
type Config struct {
	Models       []engine.Generator // served from the start
	MaxBodyBytes int64              // requests with larger bodies get 413; 0: DefaultMaxBodyBytes
	Version      string
	Logger       *slog.Logger
	// CPUKernels says which CPU kernels the engine runs on, for /metrics
	// and GET /admin/models; the zero value shows nothing.
	CPUKernels engine.CPUKernels

	// Auth verifies bearer tokens; nil turns authentication off, which
	// the command line allows on loopback only.
	Auth Authenticator
	// Revocations backs POST /admin/tokens/revoke.
	Revocations Revoker
	// RequestsPerMinute and TokensPerMinute limit each subject; 0: no limit.
	RequestsPerMinute int
	TokensPerMinute   int
	// Settings is the effective configuration, secrets already redacted,
	// that GET /admin/config shows.
	Settings any
	// Reloader reads the configuration again on SIGHUP and POST
	// /admin/reload; nil: only the lockfile is checked again.
	Reloader Reloader
	// Loader loads models by name for POST /admin/models/load and checks
	// them against the lockfile for POST /admin/reload; nil disables both.
	Loader ModelLoader
	// Audit records every call; nil records nothing. While it cannot be
	// written, requests get 503 unless AuditFailOpen.
	Audit         AuditLog
	AuditFailOpen bool
	// MetricsRole is the role GET /metrics needs: admin when empty, or
	// MetricsOpen to serve it without a token.
	MetricsRole auth.Role
	// RecordKey keys the hashes stored in place of client values the
	// server cannot vouch for, such as a model name it does not serve
	// (DeriveRecordKey makes one from the audit key); nil: a random key,
	// so the hashes compare within one run only.
	RecordKey []byte
	// Docs is the document base; its zero value turns it off.
	Docs Docs
	// Guard configures the defences against prompt injection and leaks
	// that every generation request passes; its zero value turns them off.
	Guard Guard
}

// DefaultMaxBodyBytes bounds a request body: ample for a long chat, small
// enough that a client cannot make the server buffer much.
const DefaultMaxBodyBytes = 4 << 20

// Timeouts on the HTTP connection. There is no write timeout: a stream
// legitimately lasts as long as generation does.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
)

// Server is the HTTP front of Warden.
type Server struct {
	cfg    Config
	log    *slog.Logger
	models *registry
	echo   *echo.Echo
	live   atomic.Pointer[live] // settings a reload may replace
	now    func() time.Time

	metrics *metrics // what GET /metrics exports

	routes    map[string]bool // "METHOD /template" of every route: see endpointOf
	recordKey []byte          // see unknownValue
	indexer   *indexer        // indexes attached documents in the background
	batches   *fileBatches    // recent vector store file batches
	canaryKey []byte          // keys the guard's canaries (requestGuard.canarySource)
}

// New builds a server over the given models.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, models: newRegistry(), now: time.Now,
		recordKey: recordKeyOrRandom(cfg.RecordKey), indexer: newIndexer(), batches: newFileBatches(), canaryKey: randomKey(),
	}
	s.install(Reloadable{Auth: cfg.Auth, RequestsPerMinute: cfg.RequestsPerMinute,
		TokensPerMinute: cfg.TokensPerMinute, Settings: cfg.Settings})
	for _, m := range cfg.Models {
		if err := s.models.add(m, s.modelFailed); err != nil {
			return nil, err
		}
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	// The client address is the connection's: X-Forwarded-For and
	// X-Real-IP are client input, and the audit log must not take a
	// caller's word for where it is.
	e.IPExtractor = echo.ExtractIPDirect()
	// track makes each request's exchange first and finishes it last, so
	// that the log line, the metrics and the audit record see every
	// answer, panics included as the 500s recoverPanics turns them into.
	e.Use(s.track, securityHeaders, s.auditGate, s.recoverPanics)
	e.GET("/healthz", s.healthz)
	if err := s.serveMetrics(e); err != nil {
		return nil, err
	}

	v1 := e.Group("/v1", s.authenticate, require(auth.RoleUser), s.rateLimit)
	v1.GET("/models", s.listModels)
	v1.GET("/models/:model", s.getModel)
	v1.POST("/chat/completions", s.chatCompletions)
	v1.POST("/completions", s.completions)
	v1.POST("/embeddings", s.embeddings)
	s.docRoutes(v1)
	v1.POST("/responses", s.responses)

	admin := e.Group("/admin", s.authenticate)
	admin.GET("/config", s.adminConfig, require(auth.RoleAdmin))
	admin.POST("/tokens/revoke", s.revokeToken, require(auth.RoleAdmin))
	admin.GET("/tokens/revoked", s.listRevoked, require(auth.RoleAdmin))
	admin.GET("/audit", s.auditQuery, require(auth.RoleAuditor))
	admin.GET("/models", s.adminModels, require(auth.RoleAdmin))
	admin.POST("/models/load", s.loadModel, require(auth.RoleAdmin))
	admin.POST("/models/unload", s.unloadModel, require(auth.RoleAdmin))
	admin.POST("/reload", s.reload, require(auth.RoleAdmin))
	admin.GET("/vector_stores", s.adminListStores, require(auth.RoleAdmin))
	admin.DELETE("/vector_stores/:id", s.adminDeleteStore, require(auth.RoleAdmin))

	// Unknown paths get the same 401 as known ones without a token, so
	// an anonymous caller cannot map the API.
	e.RouteNotFound("/*", func(echo.Context) error { return echo.ErrNotFound }, s.authenticate)
	s.echo, s.routes = e, routeSet(e)
	return s, nil
}

// Handler returns the server's routes, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.echo }

// TLS names the certificate and key to serve HTTPS with; empty: HTTP.
type TLS struct{ CertFile, KeyFile string }

// Serve answers requests on ln until ctx ends, then stops accepting and
// waits up to grace for running requests to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tls TLS, grace time.Duration) error {
	defer s.indexer.stop() // after the drain below: no request is left to start indexing
	hs := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() {
		if tls.CertFile != "" {
			errc <- hs.ServeTLS(ln, tls.CertFile, tls.KeyFile)
			return
		}
		errc <- hs.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "grace", grace)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		hs.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// listModels lists the models the caller's token allows.
func (s *Server) listModels(c echo.Context) error {
	list := modelList{Object: "list", Data: []modelObject{}}
	id := identity(c)
	for _, info := range s.models.list() {
		if id.MayUse(info.Name) {
			list.Data = append(list.Data, modelObjectOf(info))
		}
	}
	return c.JSON(http.StatusOK, list)
}

func (s *Server) getModel(c echo.Context) error {
	m, release, err := s.acquire(c, c.Param("model"))
	if err != nil {
		return err
	}
	defer release()
	return c.JSON(http.StatusOK, modelObjectOf(m.Info()))
}

func modelObjectOf(info engine.ModelInfo) modelObject {
	return modelObject{ID: info.Name, Object: "model", Created: info.Created, OwnedBy: "warden"}
}

// acquire finds the model a request names, if the caller may use it, and
// holds it until release: an unload waits for the request to let go.
func (s *Server) acquire(c echo.Context, name string) (engine.Generator, func(), error) {
	if name == "" {
		return nil, nil, invalidParam("model", "model is required")
	}
	x := exchangeOf(c)
	s.nameModel(x, name)
	if !x.identity.MayUse(name) {
		return nil, nil, modelNotAllowed(name)
	}
	m, ok := s.models.acquire(name)
	if !ok {
		return nil, nil, modelNotFound(name)
	}
	return m.gen, m.release, nil
}

// decodeBody reads a JSON body into v. The body must fit the size limit and
// be valid UTF-8: encoding/json would silently turn bad bytes into U+FFFD,
// and a prompt must reach the model as the client wrote it or not at all.
func (s *Server) decodeBody(c echo.Context, v any) error {
	r := c.Request()
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return tooLarge(s.cfg.MaxBodyBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, s.cfg.MaxBodyBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return tooLarge(s.cfg.MaxBodyBytes)
	case err != nil:
		return requestError(http.StatusBadRequest, "", "could not read the request body")
	case !utf8.Valid(body):
		return requestError(http.StatusBadRequest, "invalid_encoding", "the request body is not valid UTF-8")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return jsonError(err)
	}
	return nil
}

func tooLarge(limit int64) *apiError {
	return requestError(http.StatusRequestEntityTooLarge, "request_too_large",
		fmt.Sprintf("the request body exceeds the limit of %d bytes", limit))
}

// jsonError explains a decoding failure, naming the field when it can.
func jsonError(err error) *apiError {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := strings.TrimPrefix(typeErr.Field, "samplingFields.") // an embedded struct, not part of the API
		return invalidParam(field, fmt.Sprintf("%s must be %s, not a JSON %s", field, jsonTypeName(typeErr), typeErr.Value))
	case errors.As(err, &syntaxErr):
		return requestError(http.StatusBadRequest, "invalid_json",
			fmt.Sprintf("the request body is not valid JSON (offset %d): %v", syntaxErr.Offset, syntaxErr))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return requestError(http.StatusBadRequest, "invalid_json", "the request body is not valid JSON: it ends early")
	}
	return requestError(http.StatusBadRequest, "invalid_value", fmt.Sprintf("invalid request: %v", err))
}

func jsonTypeName(e *json.UnmarshalTypeError) string {
	if e.Type == nil {
		return "another type"
	}
	switch e.Type.Kind() {
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return e.Type.String()
}

// newID returns a random identifier for responses and logs.
func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// randomKey is 32 random bytes.
func randomKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func randomSeed() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint32(b[:])
}
