package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"
)

const requestIDHeader = "X-Request-Id"

// retryAfterSeconds is what a client told to come back later should wait:
// a slot usually frees within a generation's length.
const retryAfterSeconds = "1"

// requestLog gives each request an id (echoed in X-Request-Id) and logs one
// line when it ends. It never logs bodies: prompts stay out of the log. Nor
// does it log the path or an unknown method, which are whatever the client
// typed: the line names the route template, as the audit record does. The
// id is always the server's own; a client's X-Request-Id is ignored.
func (s *Server) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		id := newID()
		c.Set(requestIDHeader, id)
		c.Response().Header().Set(requestIDHeader, id)
		err := next(c)
		if err != nil {
			c.Error(err) // writes the error response, so the status below is final
		}
		status := c.Response().Status
		if c.Request().Context().Err() != nil && !c.Response().Committed {
			status = 499 // client went away before an answer
		}
		level := slog.LevelInfo
		if status >= http.StatusInternalServerError {
			level = slog.LevelError
		}
		s.log.Log(c.Request().Context(), level, "request",
			"id", id, "method", methodOf(c.Request()), "endpoint", s.endpointOf(c),
			"status", status, "duration", time.Since(start).Round(time.Microsecond),
			"remote", c.RealIP())
		return nil
	}
}

// recoverPanics turns a handler panic into a 500 and a logged stack, so one
// bad request cannot take the server down.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("handler panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		return next(c)
	}
}

// handleError answers every error in OpenAI's shape. Once a response has
// started (a stream), the stream itself reports the error instead.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed || c.Request().Context().Err() != nil {
		return // a stream reports its own errors; a departed client needs none
	}
	ae := toAPIError(err)
	code := ae.Type
	if ae.Code != nil {
		code = *ae.Code
	}
	c.Set(errorCodeKey, code)
	retry := ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusServiceUnavailable
	if retry && c.Response().Header().Get("Retry-After") == "" {
		c.Response().Header().Set("Retry-After", retryAfterSeconds)
	}
	if ae.Status >= http.StatusInternalServerError {
		s.log.Error("request failed", "id", c.Get(requestIDHeader), "err", err)
	}
	if err := c.JSON(ae.Status, errorBody{Error: ae}); err != nil {
		s.log.Debug("write error response", "err", err)
	}
}
