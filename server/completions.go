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
	"github.com/warden-llm/warden/engine/chat"
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
	reply := chatReply{tools: body.callsTools(), logprobs: body.Logprobs}
	if body.Stream {
		head.Object = "chat.completion.chunk"
		return s.streamChat(c, m, req, head, body.choices(), body.includeUsage(), reply)
	}
	var total engine.Result
	choices := make([]chatChoice, body.choices())
	for i := range choices {
		lps := reply.buffer()
		text, res, err := s.generateAll(c, m, lps.request(choiceRequest(req, i)))
		if err != nil {
			return err
		}
		choices[i] = reply.choice(i, text, res, lps.take())
		total = addUsage(total, res, i)
	}
	callOf(c).result = total
	return c.JSON(http.StatusOK, chatCompletion{completionHeader: head, Choices: choices, Usage: usageOf(total)})
}

// Several choices run one after another, so a request holds at most one
// slot and the queue bounds it like any other; from the second on, the
// prompt's KV is reused. Each choice gets its own seed, so that sampled
// choices differ while a request with a seed stays reproducible.
func choiceRequest(req engine.Request, i int) engine.Request {
	req.Sampling.Seed += uint32(i)
	return req
}

// addUsage adds choice i's usage to the total: the prompt counts once, as
// OpenAI counts it.
func addUsage(total, res engine.Result, i int) engine.Result {
	if i == 0 {
		total.PromptTokens = res.PromptTokens
	}
	total.CompletionTokens += res.CompletionTokens
	total.Queued += res.Queued
	total.FinishReason = res.FinishReason
	return total
}

// chatReply is how a chat request wants its choices shaped.
type chatReply struct {
	tools    bool // parse tool calls out of the text
	logprobs bool
}

func (r chatReply) buffer() *logprobBuffer { return newLogprobBuffer(r.logprobs) }

func (r chatReply) choice(i int, text string, res engine.Result, lps []engine.TokenLogprob) chatChoice {
	msg := &replyMessage{Role: "assistant", Content: &text}
	reason := string(res.FinishReason)
	if r.tools {
		if content, calls := chat.ParseToolCalls(text); len(calls) > 0 {
			msg.Content, msg.ToolCalls = nil, wireCalls(calls)
			if content != "" {
				msg.Content = &content
			}
			if res.FinishReason == engine.FinishStop {
				reason = "tool_calls"
			}
		}
	}
	ch := chatChoice{Index: i, Message: msg, FinishReason: &reason}
	if r.logprobs {
		ch.Logprobs = chatLogprobsOf(lps)
	}
	return ch
}

func (s *Server) streamChat(c echo.Context, m engine.Generator, req engine.Request, head completionHeader, n int, withUsage bool, reply chatReply) error {
	stream := newEventStream(c, s.log)
	var total engine.Result
	var last chatCompletion
	for i := range n {
		cs := &chatStream{stream: stream, head: head, index: i, reply: reply, lps: reply.buffer()}
		if reply.tools {
			cs.tools = &toolStream{}
		}
		res, err := s.generate(c, m, cs.lps.request(choiceRequest(req, i)), cs.text)
		if err != nil {
			return stream.fail(err)
		}
		total = addUsage(total, res, i)
		final, err := cs.end(res)
		if err != nil {
			return nil // the client is gone
		}
		if i < n-1 {
			if stream.send(final) != nil {
				return nil
			}
			continue
		}
		last = final
	}
	callOf(c).result = total
	var usageChunk any
	if withUsage {
		usageChunk = chatCompletion{completionHeader: head, Choices: []chatChoice{}, Usage: usageOf(total)}
	}
	stream.finish(last, usageChunk)
	return nil
}

// chatStream streams one choice: an opening chunk with the role, content
// deltas, tool calls as OpenAI streams them (the call's id and name, then
// its arguments), and the finish reason. Log probabilities ride on the
// next chunk after the engine reports them.
type chatStream struct {
	stream *eventStream
	head   completionHeader
	index  int
	reply  chatReply
	lps    *logprobBuffer
	tools  *toolStream // nil when the reply has no tool calls to parse
	opened bool
	calls  int
}

func (cs *chatStream) text(piece string) error {
	if cs.tools == nil {
		return cs.send(&replyMessage{Content: &piece}, nil)
	}
	return cs.parts(cs.tools.add(piece))
}

func (cs *chatStream) parts(parts []streamPart) error {
	for _, p := range parts {
		if p.call == nil {
			if err := cs.send(&replyMessage{Content: &p.content}, nil); err != nil {
				return err
			}
			continue
		}
		index := cs.calls
		cs.calls++
		head := wireCalls([]chat.ToolCall{*p.call})[0]
		head.Index, head.Function.Arguments = &index, ""
		args := wireToolCall{Index: &index}
		args.Function.Arguments = p.call.Arguments
		if err := cs.send(&replyMessage{ToolCalls: []wireToolCall{head}}, nil); err != nil {
			return err
		}
		if err := cs.send(&replyMessage{ToolCalls: []wireToolCall{args}}, nil); err != nil {
			return err
		}
	}
	return nil
}

func (cs *chatStream) send(delta *replyMessage, finish *string) error {
	if err := cs.open(); err != nil {
		return err
	}
	return cs.stream.send(cs.chunk(delta, finish))
}

// open sends the chunk OpenAI opens every choice with: the role and empty
// content. It goes out with the first text, so that an error before any
// is still a plain HTTP error.
func (cs *chatStream) open() error {
	if cs.opened {
		return nil
	}
	cs.opened = true
	empty := ""
	opening := chatChoice{Index: cs.index, Delta: &replyMessage{Role: "assistant", Content: &empty}}
	return cs.stream.send(chatCompletion{completionHeader: cs.head, Choices: []chatChoice{opening}})
}

func (cs *chatStream) chunk(delta *replyMessage, finish *string) chatCompletion {
	choice := chatChoice{Index: cs.index, Delta: delta, FinishReason: finish}
	if cs.reply.logprobs {
		choice.Logprobs = chatLogprobsOf(cs.lps.take())
	}
	return chatCompletion{completionHeader: cs.head, Choices: []chatChoice{choice}}
}

// end flushes what the tool parser held back and returns the choice's last
// chunk, unsent.
func (cs *chatStream) end(res engine.Result) (chatCompletion, error) {
	if cs.tools != nil {
		if err := cs.parts(cs.tools.flush()); err != nil {
			return chatCompletion{}, err
		}
	}
	if err := cs.open(); err != nil { // nothing was generated: the opening still goes first
		return chatCompletion{}, err
	}
	reason := string(res.FinishReason)
	if cs.calls > 0 && res.FinishReason == engine.FinishStop {
		reason = "tool_calls"
	}
	return cs.chunk(&replyMessage{}, &reason), nil
}

// completions serves POST /v1/completions, the legacy text endpoint.
func (s *Server) completions(c echo.Context) error {
	var body textRequest
	m, req, head, err := s.prepare(c, &body, "text_completion", "cmpl-")
	if err != nil {
		return err
	}
	logprobs := body.Logprobs != nil
	if body.Stream {
		return s.streamText(c, m, req, head, body.choices(), body.includeUsage(), logprobs)
	}
	var total engine.Result
	choices := make([]textChoice, body.choices())
	for i := range choices {
		lps := newLogprobBuffer(logprobs)
		text, res, err := s.generateAll(c, m, lps.request(choiceRequest(req, i)))
		if err != nil {
			return err
		}
		choices[i] = textChoice{Index: i, Text: text, FinishReason: finish(res)}
		if lps != nil {
			choices[i].Logprobs = textLogprobsOf(lps.take(), 0)
		}
		total = addUsage(total, res, i)
	}
	callOf(c).result = total
	return c.JSON(http.StatusOK, textCompletion{completionHeader: head, Choices: choices, Usage: usageOf(total)})
}

func (s *Server) streamText(c echo.Context, m engine.Generator, req engine.Request, head completionHeader, n int, withUsage, logprobs bool) error {
	stream := newEventStream(c, s.log)
	var total engine.Result
	var last textCompletion
	for i := range n {
		lps := newLogprobBuffer(logprobs)
		offset := 0
		chunk := func(choice textChoice) textCompletion {
			if lps != nil {
				choice.Logprobs = textLogprobsOf(lps.take(), offset)
			}
			offset += len(choice.Text)
			return textCompletion{completionHeader: head, Choices: []textChoice{choice}}
		}
		res, err := s.generate(c, m, lps.request(choiceRequest(req, i)), func(text string) error {
			return stream.send(chunk(textChoice{Index: i, Text: text}))
		})
		if err != nil {
			return stream.fail(err)
		}
		total = addUsage(total, res, i)
		last = chunk(textChoice{Index: i, FinishReason: finish(res)})
		if i < n-1 && stream.send(last) != nil {
			return nil
		}
	}
	callOf(c).result = total
	var usageChunk any
	if withUsage {
		usageChunk = textCompletion{completionHeader: head, Choices: []textChoice{}, Usage: usageOf(total)}
	}
	stream.finish(last, usageChunk)
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
