package server

import (
	"fmt"
	"net/http"
	"runtime/debug"

	"github.com/labstack/echo/v4"
)

// requestIDHeader carries the server's request id in every response. A
// client's own X-Request-Id is ignored: the id in the log and the audit
// record is always the server's.
const requestIDHeader = "X-Request-Id"

// retryAfterSeconds is what a client told to come back later should wait:
// a slot usually frees within a generation's length.
const retryAfterSeconds = "1"

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
	x := exchangeOf(c)
	x.errorCode = ae.recorded()
	retry := ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusServiceUnavailable
	if retry && c.Response().Header().Get("Retry-After") == "" {
		c.Response().Header().Set("Retry-After", retryAfterSeconds)
	}
	if ae.Status >= http.StatusInternalServerError {
		s.log.Error("request failed", "id", x.id, "err", err)
	}
	if err := c.JSON(ae.Status, errorBody{Error: ae}); err != nil {
		s.log.Debug("write error response", "err", err)
	}
}
