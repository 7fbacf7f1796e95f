package server

import (
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/server/guard"
)

// generate runs one choice of req on m for the request c, adding its
// timings, text and usage to the request's exchange and charging the
// caller's token budget when it ends.
func (s *Server) generate(c echo.Context, m engine.Generator, req engine.Request, emit func(string) error) (engine.Result, error) {
	x := exchangeOf(c)
	if x.prompt == "" { // a handler may have set what the caller sent, as responses does
		x.prompt = promptText(req)
	}
	send := func(piece string) error {
		if x.firstToken.IsZero() {
			x.firstToken = time.Now()
		}
		x.response.WriteString(piece)
		return emit(piece)
	}
	var leak *guard.LeakDetector
	if x.guard != nil {
		req, leak = x.guard.seal(req)
	}
	var res engine.Result
	var err error
	if leak == nil {
		res, err = m.Generate(c.Request().Context(), req, send)
	} else {
		res, err = x.guard.watch(c.Request().Context(), m, req, leak, send)
	}
	x.addChoice(res)
	x.chargeTokens(res.PromptTokens + res.CompletionTokens)
	return res, err
}

// generateAll runs one choice to the end and returns all its text.
func (s *Server) generateAll(c echo.Context, m engine.Generator, req engine.Request) (string, engine.Result, error) {
	var text strings.Builder
	res, err := s.generate(c, m, req, func(piece string) error {
		text.WriteString(piece)
		return nil
	})
	return text.String(), res, err
}

// choiceRequest is choice i of a request. Several choices run one after
// another, so a request holds at most one slot and the queue bounds it
// like any other; from the second on, the prompt's KV is reused. Each
// choice gets its own seed, so that sampled choices differ while a request
// with a seed stays reproducible.
func choiceRequest(req engine.Request, i int) engine.Request {
	req.Sampling.Seed += uint32(i)
	return req
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
