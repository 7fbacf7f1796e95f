package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/auth"
	"github.com/warden-llm/warden/engine"
)

// exchange is one request from arrival to its record: who asked, the
// settings it runs under, the model it names, and what came of it. track makes it before anything else runs; middleware and handlers
// fill it in; finish reads it once to write the log line, the metrics and
// the audit record.
type exchange struct {
	id    string    // the server's own request id, echoed in X-Request-Id
	start time.Time // arrival: durations and TTFT count from here

	// settings are the reloadable settings in force when the request
	// arrived: a reload while it runs changes nothing for it.
	settings *live

	identity    auth.Identity
	authFailure auth.Reason // why the token was refused; "" if it was not

	model       string // the model the request named, as sent ("" for none)
	modelServed bool   // whether that model was served when named

	// action and detail say what an admin, auditor or document call did,
	// for its record: "vector_store.search" and its store ids, say.
	// Admin calls leave action empty: their method and endpoint name it.
	action string
	detail string

	// guard is the request's guard stage, when it reached one: what it
	// found goes into the record and /metrics.
	guard *requestGuard

	// What generation did, summed over the request's choices: what the
	// audit log records, the token limiter charges and metrics count.
	choices    int
	result     engine.Result
	firstToken time.Time
	prompt     string
	response   strings.Builder

	// unaudited marks requests the audit log does not record: /healthz,
	// and those refused because the log cannot be written.
	unaudited bool

	// The outcome, which finish fixes.
	status    int
	errorCode string // the code (or type) of the error answered, if any
}

// exchangeKey is the request context's key for its exchange.
type exchangeKey struct{}

// exchangeOf returns the request's exchange, which track stored.
func exchangeOf(c echo.Context) *exchange {
	return c.Request().Context().Value(exchangeKey{}).(*exchange)
}

// identity is the caller, as authenticate recorded it.
func identity(c echo.Context) auth.Identity { return exchangeOf(c).identity }

// track is the outermost middleware: it makes the request's exchange,
// runs the request, answers an error it returns, and finishes.
func (s *Server) track(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		x := &exchange{id: newID(), start: time.Now(), settings: s.current()}
		r := c.Request()
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), exchangeKey{}, x)))
		c.Response().Header().Set(requestIDHeader, x.id)
		if err := next(c); err != nil {
			c.Error(err) // answers it (handleError), so the status below is the one sent
		}
		s.finish(c, x)
		return nil
	}
}

// finish fixes the request's outcome and hands it to the audit log, the
// metrics and the request log, in that order.
func (s *Server) finish(c echo.Context, x *exchange) {
	end := time.Now()
	x.status = c.Response().Status
	if c.Request().Context().Err() != nil && !c.Response().Committed {
		x.status = statusClientGone
	}
	endpoint, model := s.endpointOf(c), s.modelOutcome(x)
	s.audit(c, x, endpoint, model, end)
	s.metrics.record(x, endpoint, model.label, end)

	level := slog.LevelInfo
	if x.status >= http.StatusInternalServerError {
		level = slog.LevelError
	}
	s.log.Log(c.Request().Context(), level, "request",
		"id", x.id, "method", methodOf(c.Request()), "endpoint", endpoint,
		"status", x.status, "duration", end.Sub(x.start).Round(time.Microsecond),
		"remote", c.RealIP())
}

// statusClientGone is nginx's 499: the client went away before an answer.
const statusClientGone = 499

// addChoice adds one choice's result to the request's: the prompt counts
// once, as OpenAI counts it.
func (x *exchange) addChoice(res engine.Result) {
	if x.choices == 0 {
		x.result.PromptTokens = res.PromptTokens
	}
	x.choices++
	x.result.CompletionTokens += res.CompletionTokens
	x.result.Queued += res.Queued
	x.result.FinishReason = res.FinishReason
}
