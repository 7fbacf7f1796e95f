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

// completionRequest is what the chat and text endpoints have in common.
type completionRequest interface {
	fields() *samplingFields
	toEngine(rnd func() uint32) (engine.Request, error)
}

func (f *samplingFields) fields() *samplingFields { return f }

// prepare decodes and checks a completion request and finds its model.
func (s *Server) prepare(c echo.Context, body completionRequest, object, idPrefix string) (engine.Generator, engine.Request, completionHeader, error) {
	if err := s.decodeBody(c, body); err != nil {
		return nil, engine.Request{}, completionHeader{}, err
	}
	m, err := s.model(c, body.fields().Model)
	if err != nil {
		return nil, engine.Request{}, completionHeader{}, err
	}
	req, err := body.toEngine(randomSeed)
	if err != nil {
		return nil, engine.Request{}, completionHeader{}, err
	}
	head := completionHeader{
		ID:                idPrefix + c.Get(requestIDHeader).(string),
		Object:            object,
		Created:           time.Now().Unix(),
		Model:             m.Info().Name,
		SystemFingerprint: "warden-" + s.cfg.Version,
	}
	return m, req, head, nil
}

// chatCompletions serves POST /v1/chat/completions.
func (s *Server) chatCompletions(c echo.Context) error {
	var body chatRequest
	m, req, head, err := s.prepare(c, &body, "chat.completion", "chatcmpl-")
	if err != nil {
		return err
	}
	if !body.Stream {
		text, res, err := s.generateAll(c, m, req)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, chatCompletion{
			completionHeader: head,
			Choices:          []chatChoice{{Message: &replyMessage{Role: "assistant", Content: &text}, FinishReason: finish(res)}},
			Usage:            usageOf(res),
		})
	}

	head.Object = "chat.completion.chunk"
	chunk := func(choice chatChoice) chatCompletion {
		return chatCompletion{completionHeader: head, Choices: []chatChoice{choice}}
	}
	// OpenAI opens every stream with the role and empty content.
	empty := ""
	opening := chunk(chatChoice{Delta: &replyMessage{Role: "assistant", Content: &empty}})
	stream := newEventStream(c, s.log)
	res, err := s.generate(c, m, req, func(text string) error {
		if !stream.started {
			if err := stream.send(opening); err != nil {
				return err
			}
		}
		return stream.send(chunk(chatChoice{Delta: &replyMessage{Content: &text}}))
	})
	if err != nil {
		return stream.fail(err)
	}
	if !stream.started && stream.send(opening) != nil { // nothing was generated
		return nil
	}
	var usageChunk any
	if body.includeUsage() {
		usageChunk = chatCompletion{completionHeader: head, Choices: []chatChoice{}, Usage: usageOf(res)}
	}
	stream.finish(chunk(chatChoice{Delta: &replyMessage{}, FinishReason: finish(res)}), usageChunk)
	return nil
}

// completions serves POST /v1/completions, the legacy text endpoint.
func (s *Server) completions(c echo.Context) error {
	var body textRequest
	m, req, head, err := s.prepare(c, &body, "text_completion", "cmpl-")
	if err != nil {
		return err
	}
	if !body.Stream {
		text, res, err := s.generateAll(c, m, req)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, textCompletion{
			completionHeader: head,
			Choices:          []textChoice{{Text: text, FinishReason: finish(res)}},
			Usage:            usageOf(res),
		})
	}

	chunk := func(choice textChoice) textCompletion {
		return textCompletion{completionHeader: head, Choices: []textChoice{choice}}
	}
	stream := newEventStream(c, s.log)
	res, err := s.generate(c, m, req, func(text string) error {
		return stream.send(chunk(textChoice{Text: text}))
	})
	if err != nil {
		return stream.fail(err)
	}
	var usageChunk any
	if body.includeUsage() {
		usageChunk = textCompletion{completionHeader: head, Choices: []textChoice{}, Usage: usageOf(res)}
	}
	stream.finish(chunk(textChoice{FinishReason: finish(res)}), usageChunk)
	return nil
}

// generateAll runs a request to the end and returns all its text.
func (s *Server) generateAll(c echo.Context, m engine.Generator, req engine.Request) (string, engine.Result, error) {
	var text strings.Builder
	res, err := s.generate(c, m, req, func(piece string) error {
		text.WriteString(piece)
		return nil
	})
	return text.String(), res, err
}

func finish(res engine.Result) *string {
	r := string(res.FinishReason)
	return &r
}

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

// finish sends the chunk carrying finish_reason, the usage chunk if there
// is one, and [DONE]. A client gone by then needs nothing more.
func (s *eventStream) finish(last, usage any) {
	if s.send(last) != nil {
		return
	}
	if usage != nil && s.send(usage) != nil {
		return
	}
	_ = s.write([]byte("[DONE]"))
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
	if body, err := json.Marshal(errorBody{Error: ae}); err == nil {
		_ = s.write(body)
	}
	return nil
}
