package server

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
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

// completion is a decoded and checked completion request with the model
// that serves it, which the handler holds until it calls release.
type completion struct {
	model   engine.Generator
	release func()
	req     engine.Request
	head    completionHeader
}

// prepare decodes and checks a completion request and takes its model.
func (s *Server) prepare(c echo.Context, body completionRequest, object, idPrefix string) (completion, error) {
	if err := s.decodeBody(c, body); err != nil {
		return completion{}, err
	}
	m, release, err := s.acquire(c, body.fields().Model)
	if err != nil {
		return completion{}, err
	}
	req, err := body.toEngine(randomSeed)
	if err == nil {
		req, err = s.guardRequest(c, req)
	}
	if err != nil {
		release()
		return completion{}, err
	}
	head := completionHeader{
		ID:                idPrefix + exchangeOf(c).id,
		Object:            object,
		Created:           time.Now().Unix(),
		Model:             m.Info().Name,
		SystemFingerprint: "warden-" + s.cfg.Version,
	}
	return completion{model: m, release: release, req: req, head: head}, nil
}

// chatCompletions serves POST /v1/chat/completions.
func (s *Server) chatCompletions(c echo.Context) error {
	var body chatRequest
	cp, err := s.prepare(c, &body, "chat.completion", "chatcmpl-")
	if err != nil {
		return err
	}
	defer cp.release()
	reply := chatReply{tools: body.callsTools(), logprobs: body.Logprobs}
	if body.Stream {
		cp.head.Object = "chat.completion.chunk"
		return s.stream(c, cp, body.choices(), body.includeUsage(),
			func(es *eventStream, i int) choiceStream { return newChatStream(es, cp.head, i, reply) },
			func(u *usage) any {
				return chatCompletion{completionHeader: cp.head, Choices: []chatChoice{}, Usage: u}
			})
	}
	choices := make([]chatChoice, body.choices())
	for i := range choices {
		lps := reply.buffer()
		text, res, err := s.generateAll(c, cp.model, lps.request(choiceRequest(cp.req, i)))
		if err != nil {
			return err
		}
		choices[i] = reply.choice(i, text, res, lps.take())
	}
	return c.JSON(http.StatusOK, chatCompletion{completionHeader: cp.head, Choices: choices, Usage: usageOf(exchangeOf(c).result)})
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

// choiceStream streams one choice of a completion: its text as it comes,
// then the chunk that ends it, which stream sends.
type choiceStream interface {
	request(req engine.Request) engine.Request // asks for what the chunks carry (logprobs)
	text(piece string) error
	end(res engine.Result) (any, error)
}

// stream answers a completion as server-sent events, the same way for
// chat and text: the choices one after another, each closed by its final
// chunk; the last one's final chunk goes out with the usage chunk, when
// asked for, and [DONE].
func (s *Server) stream(c echo.Context, cp completion, n int, withUsage bool,
	choice func(es *eventStream, i int) choiceStream, usageChunk func(*usage) any) error {
	es := newEventStream(c, s.log)
	var last any
	for i := range n {
		ch := choice(es, i)
		res, err := s.generate(c, cp.model, ch.request(choiceRequest(cp.req, i)), ch.text)
		if err != nil {
			return es.fail(err)
		}
		final, err := ch.end(res)
		if err != nil {
			return nil // the client is gone
		}
		if i < n-1 {
			if es.send(final) != nil {
				return nil
			}
			continue
		}
		last = final
	}
	var u any
	if withUsage {
		u = usageChunk(usageOf(exchangeOf(c).result))
	}
	es.finish(last, u)
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

func newChatStream(es *eventStream, head completionHeader, i int, reply chatReply) *chatStream {
	cs := &chatStream{stream: es, head: head, index: i, reply: reply, lps: reply.buffer()}
	if reply.tools {
		cs.tools = &toolStream{}
	}
	return cs
}

func (cs *chatStream) request(req engine.Request) engine.Request { return cs.lps.request(req) }

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
func (cs *chatStream) end(res engine.Result) (any, error) {
	if cs.tools != nil {
		if err := cs.parts(cs.tools.flush()); err != nil {
			return nil, err
		}
	}
	if err := cs.open(); err != nil { // nothing was generated: the opening still goes first
		return nil, err
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
	cp, err := s.prepare(c, &body, "text_completion", "cmpl-")
	if err != nil {
		return err
	}
	defer cp.release()
	logprobs := body.Logprobs != nil
	if body.Stream {
		return s.stream(c, cp, body.choices(), body.includeUsage(),
			func(es *eventStream, i int) choiceStream { return newTextStream(es, cp.head, i, logprobs) },
			func(u *usage) any {
				return textCompletion{completionHeader: cp.head, Choices: []textChoice{}, Usage: u}
			})
	}
	choices := make([]textChoice, body.choices())
	for i := range choices {
		lps := newLogprobBuffer(logprobs)
		text, res, err := s.generateAll(c, cp.model, lps.request(choiceRequest(cp.req, i)))
		if err != nil {
			return err
		}
		choices[i] = textChoice{Index: i, Text: text, FinishReason: finish(res)}
		if lps != nil {
			choices[i].Logprobs = textLogprobsOf(lps.take(), 0)
		}
	}
	return c.JSON(http.StatusOK, textCompletion{completionHeader: cp.head, Choices: choices, Usage: usageOf(exchangeOf(c).result)})
}

// textStream streams one choice of a text completion: its text, with the
// log probabilities of its tokens at their offsets, then the finish
// reason.
type textStream struct {
	stream *eventStream
	head   completionHeader
	index  int
	lps    *logprobBuffer // nil without logprobs
	offset int            // bytes of the choice's text sent so far
}

func newTextStream(es *eventStream, head completionHeader, i int, logprobs bool) *textStream {
	return &textStream{stream: es, head: head, index: i, lps: newLogprobBuffer(logprobs)}
}

func (ts *textStream) request(req engine.Request) engine.Request { return ts.lps.request(req) }

func (ts *textStream) text(piece string) error {
	return ts.stream.send(ts.chunk(textChoice{Index: ts.index, Text: piece}))
}

func (ts *textStream) end(res engine.Result) (any, error) {
	return ts.chunk(textChoice{Index: ts.index, FinishReason: finish(res)}), nil
}

func (ts *textStream) chunk(choice textChoice) textCompletion {
	if ts.lps != nil {
		choice.Logprobs = textLogprobsOf(ts.lps.take(), ts.offset)
	}
	ts.offset += len(choice.Text)
	return textCompletion{completionHeader: ts.head, Choices: []textChoice{choice}}
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
	return s.writeFrame(fmt.Appendf(nil, "data: %s\n\n", data))
}

// writeFrame writes one whole event, headers first if none went out yet.
func (s *eventStream) writeFrame(frame []byte) error {
	w := s.c.Response()
	if !s.started {
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		s.started = true
	}
	if _, err := w.Write(frame); err != nil {
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
	x := exchangeOf(s.c)
	x.errorCode = ae.recorded() // the status sent was 200: the record keeps what failed
	if ae.Status >= http.StatusInternalServerError {
		s.log.Error("stream failed", "id", x.id, "err", err)
	}
	if body, err := json.Marshal(errorBody{Error: ae}); err == nil {
		_ = s.write(body)
	}
	return nil
}
