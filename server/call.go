package server

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/engine"
)

const modelKey = "warden.model"

// call collects what one request did with a model: what the audit log
// records and the token-rate limiter charges.
type call struct {
	start      time.Time
	firstToken time.Time
	result     engine.Result
	prompt     string
	response   strings.Builder
}

const callKey = "warden.call"

func callOf(c echo.Context) *call {
	if cl, ok := c.Get(callKey).(*call); ok {
		return cl
	}
	cl := &call{start: time.Now()}
	c.Set(callKey, cl)
	return cl
}

// generate runs req on m for the request c, noting timings, text and
// usage, and charging the caller's token budget when it ends.
func (s *Server) generate(c echo.Context, m engine.Generator, req engine.Request, emit func(string) error) (engine.Result, error) {
	cl := callOf(c)
	cl.prompt = promptText(req)
	res, err := m.Generate(c.Request().Context(), req, func(piece string) error {
		if cl.firstToken.IsZero() {
			cl.firstToken = time.Now()
		}
		cl.response.WriteString(piece)
		return emit(piece)
	})
	cl.result = res // the handler sums it over n choices (addUsage)
	s.current().tokens.charge(identity(c).Subject, float64(res.PromptTokens+res.CompletionTokens))
	return res, err
}

// promptText flattens a request's prompt for the audit log.
func promptText(req engine.Request) string {
	if len(req.Messages) == 0 {
		return req.Prompt
	}
	var b strings.Builder
	for _, m := range req.Messages {
		b.WriteString(m.Role)
		b.WriteString(": ")
		b.WriteString(m.Content)
		b.WriteString("\n")
	}
	return b.String()
}

// rateLimit enforces the per-subject request and token budgets.
func (s *Server) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		subject, l := identity(c).Subject, s.current()
		ok, wait := l.requests.take(subject, 1)
		what := "requests"
		if ok {
			ok, wait = l.tokens.take(subject, 0)
			what = "tokens"
		}
		if !ok {
			secs := max(1, int(wait.Round(time.Second)/time.Second))
			c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
			return newAPIError(http.StatusTooManyRequests, "requests", "rate_limit_exceeded", "",
				"rate limit reached for "+what+" per minute; retry in "+strconv.Itoa(secs)+"s")
		}
		return next(c)
	}
}
