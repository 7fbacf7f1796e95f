package server

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/engine"
)

// chatCompletions serves POST /v1/chat/completions.
func (s *Server) chatCompletions(c echo.Context) error {
	var body chatRequest
	if err := s.decodeBody(c, &body); err != nil {
		return err
	}
	m, err := s.model(body.Model)
	if err != nil {
		return err
	}
	req, err := body.toEngine(randomSeed)
	if err != nil {
		return err
	}
	base := chatCompletion{
		ID:                "chatcmpl-" + c.Get(requestIDHeader).(string),
		Created:           time.Now().Unix(),
		Model:             m.Info().Name,
		SystemFingerprint: s.fingerprint(),
	}
	if !body.Stream {
		text, res, err := generateAll(c, m, req)
		if err != nil {
			return err
		}
		base.Object = "chat.completion"
		base.Choices = []chatChoice{{Message: &replyMessage{Role: "assistant", Content: &text}, FinishReason: finish(res)}}
		base.Usage = usageOf(res)
		return c.JSON(http.StatusOK, base)
	}

	base.Object = "chat.completion.chunk"
	chunk := func(choice chatChoice) chatCompletion {
		out := base
		out.Choices = []chatChoice{choice}
		return out
	}
	stream := newEventStream(c, s.log)
	res, err := m.Generate(c.Request().Context(), req, func(text string) error {
		if !stream.started {
			empty := ""
			if err := stream.send(chunk(chatChoice{Delta: &replyMessage{Role: "assistant", Content: &empty}})); err != nil {
				return err
			}
		}
		return stream.send(chunk(chatChoice{Delta: &replyMessage{Content: &text}}))
	})
	if err != nil {
		return stream.fail(err)
	}
	if !stream.started { // nothing generated: still open with the role
		empty := ""
		if err := stream.send(chunk(chatChoice{Delta: &replyMessage{Role: "assistant", Content: &empty}})); err != nil {
			return nil
		}
	}
	if err := stream.send(chunk(chatChoice{Delta: &replyMessage{}, FinishReason: finish(res)})); err != nil {
		return nil
	}
	if body.StreamOptions != nil && body.StreamOptions.IncludeUsage {
		last := base
		last.Choices = []chatChoice{}
		last.Usage = usageOf(res)
		if err := stream.send(last); err != nil {
			return nil
		}
	}
	stream.done()
	return nil
}

// completions serves POST /v1/completions, the legacy text endpoint.
func (s *Server) completions(c echo.Context) error {
	var body completionRequest
	if err := s.decodeBody(c, &body); err != nil {
		return err
	}
	m, err := s.model(body.Model)
	if err != nil {
		return err
	}
	req, err := body.toEngine(randomSeed)
	if err != nil {
		return err
	}
	base := textCompletion{
		ID:                "cmpl-" + c.Get(requestIDHeader).(string),
		Object:            "text_completion",
		Created:           time.Now().Unix(),
		Model:             m.Info().Name,
		SystemFingerprint: s.fingerprint(),
	}
	if !body.Stream {
		text, res, err := generateAll(c, m, req)
		if err != nil {
			return err
		}
		base.Choices = []textChoice{{Text: text, FinishReason: finish(res)}}
		base.Usage = usageOf(res)
		return c.JSON(http.StatusOK, base)
	}

	chunk := func(choice textChoice) textCompletion {
		out := base
		out.Choices = []textChoice{choice}
		return out
	}
	stream := newEventStream(c, s.log)
	res, err := m.Generate(c.Request().Context(), req, func(text string) error {
		return stream.send(chunk(textChoice{Text: text}))
	})
	if err != nil {
		return stream.fail(err)
	}
	if err := stream.send(chunk(textChoice{FinishReason: finish(res)})); err != nil {
		return nil
	}
	if body.StreamOptions != nil && body.StreamOptions.IncludeUsage {
		last := base
		last.Choices = []textChoice{}
		last.Usage = usageOf(res)
		if err := stream.send(last); err != nil {
			return nil
		}
	}
	stream.done()
	return nil
}

// generateAll runs a request to the end and returns all its text.
func generateAll(c echo.Context, m engine.Generator, req engine.Request) (string, engine.Result, error) {
	var text strings.Builder
	res, err := m.Generate(c.Request().Context(), req, func(piece string) error {
		text.WriteString(piece)
		return nil
	})
	return text.String(), res, err
}

func finish(res engine.Result) *string {
	r := string(res.FinishReason)
	return &r
}

// fingerprint identifies the serving build, as OpenAI's system_fingerprint
// identifies its backend configuration.
func (s *Server) fingerprint() string { return "warden-" + s.cfg.Version }

// eventStream writes server-sent events the way OpenAI streams: one
// "data: {json}" event per chunk, then "data: [DONE]". Headers go out with
// the first chunk, so an error found before any text is still a plain HTTP
// error with the right status.
type eventStream struct {
	c       echo.Context
	log     *slog.Logger
	started bool
}

func newEventStream(c echo.Context, log *slog.Logger) *eventStream {
	return &eventStream{c: c, log: log}
}

func (s *eventStream) send(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode chunk: %w", err)
	}
	return s.write(data)
}

func (s *eventStream) write(data []byte) error {
	w := s.c.Response()
	if !s.started {
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		s.started = true
	}
	if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
		return err
	}
	w.Flush()
	return nil
}

func (s *eventStream) done() {
	if err := s.write([]byte("[DONE]")); err != nil {
		return // the client left after the last chunk; nothing to do
	}
}

// fail ends a stream on an error. Before the first chunk the error becomes
// an ordinary HTTP error response; after it, an error event, as OpenAI
// sends. A client that went away gets nothing.
func (s *eventStream) fail(err error) error {
	if s.c.Request().Context().Err() != nil {
		return nil
	}
	if !s.started {
		return err
	}
	ae := toAPIError(err)
	if ae.Status >= http.StatusInternalServerError {
		s.log.Error("stream failed", "id", s.c.Get(requestIDHeader), "err", err)
	}
	body, mErr := json.Marshal(errorBody{Error: ae})
	if mErr == nil {
		_ = s.write(body)
	}
	return nil
}
