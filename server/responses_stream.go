package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/engine"
)

// Streamed responses: OpenAI's typed server-sent events, each an "event:"
// line naming its type and a "data:" line, numbered by sequence_number,
// with no [DONE] at the end.

// eventHeader starts every event.
type eventHeader struct {
	Type           string `json:"type"`
	SequenceNumber int    `json:"sequence_number"`
}

func (h eventHeader) name() string { return h.Type }

// streamEvent is any event: its type names the SSE event.
type streamEvent interface{ name() string }

type responseEvent struct {
	eventHeader
	Response responseObject `json:"response"`
}

type itemEvent struct {
	eventHeader
	OutputIndex int `json:"output_index"`
	Item        any `json:"item"`
}

// itemStepEvent is a file_search_call's progress.
type itemStepEvent struct {
	eventHeader
	OutputIndex int    `json:"output_index"`
	ItemID      string `json:"item_id"`
}

// textEvent is any event about the reply's content part. Only the fields
// of its type are set; the rest are left out.
type textEvent struct {
	eventHeader
	ItemID          string      `json:"item_id"`
	OutputIndex     int         `json:"output_index"`
	ContentIndex    int         `json:"content_index"`
	Part            *outputText `json:"part,omitempty"`
	Delta           *string     `json:"delta,omitempty"`
	Text            *string     `json:"text,omitempty"`
	Logprobs        *[]struct{} `json:"logprobs,omitempty"`
	Annotation      *annotation `json:"annotation,omitempty"`
	AnnotationIndex *int        `json:"annotation_index,omitempty"`
}

// responseStream sends one response's events. Until the first piece of
// text, events are held back, so that an error before it (a prompt too
// long for the context, say) is still an ordinary HTTP error, as a chat
// stream's is.
type responseStream struct {
	es      *eventStream
	rs      *responseState
	seq     int
	held    [][]byte // events not sent yet; nil once they went
	holding bool
	msgIdx  int // output_index of the message item
	text    strings.Builder
}

// streamResponse generates the reply and streams the whole response.
func (s *Server) streamResponse(c echo.Context, m engine.Generator, rs *responseState) error {
	st := &responseStream{es: newEventStream(c, s.log), rs: rs, holding: true}
	if err := st.open(); err != nil {
		return err
	}
	res, err := s.generate(c, m, rs.plan.req, st.delta)
	if err != nil {
		return st.fail(c, err)
	}
	_ = st.finish(res) // an error here is a client gone: nothing to add
	return nil
}

func (st *responseStream) header(typ string) eventHeader {
	h := eventHeader{Type: typ, SequenceNumber: st.seq}
	st.seq++
	return h
}

func (st *responseStream) send(ev streamEvent) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", ev.name(), err)
	}
	frame := fmt.Appendf(nil, "event: %s\ndata: %s\n\n", ev.name(), data)
	if st.holding {
		st.held = append(st.held, frame)
		return nil
	}
	return st.es.writeFrame(frame)
}

// release sends the events held back.
func (st *responseStream) release() error {
	if !st.holding {
		return nil
	}
	st.holding = false
	for _, frame := range st.held {
		if err := st.es.writeFrame(frame); err != nil {
			return err
		}
	}
	st.held = nil
	return nil
}

// open queues everything before the text: the response created and in
// progress, the search with its steps, and the message with its empty
// content part.
func (st *responseStream) open() error {
	rs := st.rs
	inProgress := rs.object("in_progress", nil)
	if err := st.send(responseEvent{st.header("response.created"), inProgress}); err != nil {
		return err
	}
	if err := st.send(responseEvent{st.header("response.in_progress"), inProgress}); err != nil {
		return err
	}
	if item := rs.searchItem(); item != nil {
		if err := st.sendSearch(*item); err != nil {
			return err
		}
		st.msgIdx = 1
	}
	added := rs.messageItem("in_progress", nil)
	if err := st.send(itemEvent{st.header("response.output_item.added"), st.msgIdx, added}); err != nil {
		return err
	}
	empty := textPart("", nil)
	return st.send(st.textEvent("response.content_part.added", textEvent{Part: &empty}))
}

// sendSearch sends the search's events: it ran before generation, so they
// tell of a search already done.
func (st *responseStream) sendSearch(done fileSearchCall) error {
	started := done
	started.Status, started.Results = "in_progress", nil
	if err := st.send(itemEvent{st.header("response.output_item.added"), 0, started}); err != nil {
		return err
	}
	for _, step := range []string{"in_progress", "searching", "completed"} {
		ev := itemStepEvent{st.header("response.file_search_call." + step), 0, done.ID}
		if err := st.send(ev); err != nil {
			return err
		}
	}
	return st.send(itemEvent{st.header("response.output_item.done"), 0, done})
}

func (st *responseStream) textEvent(typ string, ev textEvent) textEvent {
	ev.eventHeader = st.header(typ)
	ev.ItemID, ev.OutputIndex, ev.ContentIndex = st.rs.msgID, st.msgIdx, 0
	return ev
}

// delta sends a piece of the reply, after what was held back.
func (st *responseStream) delta(piece string) error {
	if err := st.release(); err != nil {
		return err
	}
	st.text.WriteString(piece)
	none := []struct{}{}
	return st.send(st.textEvent("response.output_text.delta", textEvent{Delta: &piece, Logprobs: &none}))
}

// finish sends the annotations, closes the content part and the message,
// and ends with response.completed, or response.incomplete when the
// length limit cut the reply.
func (st *responseStream) finish(res engine.Result) error {
	if err := st.release(); err != nil {
		return err
	}
	rs, text := st.rs, st.text.String()
	anns := citations(text, rs.results)
	for i, a := range anns {
		if err := st.send(st.textEvent("response.output_text.annotation.added",
			textEvent{Annotation: &a, AnnotationIndex: &i})); err != nil {
			return err
		}
	}
	none := []struct{}{}
	if err := st.send(st.textEvent("response.output_text.done", textEvent{Text: &text, Logprobs: &none})); err != nil {
		return err
	}
	part := textPart(text, anns)
	if err := st.send(st.textEvent("response.content_part.done", textEvent{Part: &part})); err != nil {
		return err
	}
	final := rs.final(text, res)
	msg := final.Output[len(final.Output)-1]
	if err := st.send(itemEvent{st.header("response.output_item.done"), st.msgIdx, msg}); err != nil {
		return err
	}
	return st.send(responseEvent{st.header("response." + final.Status), final})
}

// fail ends the stream on an error. Before anything was sent it is an
// ordinary HTTP error; after, a response.failed event carrying it, as
// OpenAI sends. A client gone gets nothing.
func (st *responseStream) fail(c echo.Context, err error) error {
	if c.Request().Context().Err() != nil {
		return nil
	}
	if st.holding {
		return err
	}
	ae := toAPIError(err)
	exchangeOf(c).errorCode = ae.recorded() // the status sent was 200: the record keeps what failed
	if ae.Status >= http.StatusInternalServerError {
		st.es.log.Error("stream failed", "id", exchangeOf(c).id, "err", err)
	}
	code := "server_error"
	if ae.Code != nil && ae.Status < http.StatusInternalServerError {
		code = *ae.Code
	}
	failed := st.rs.object("failed", nil)
	failed.Error = &responseError{Code: code, Message: ae.Message}
	_ = st.send(responseEvent{st.header("response.failed"), failed})
	return nil
}
