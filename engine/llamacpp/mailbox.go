package llamacpp

import (
	"sync"

	"github.com/warden-llm/warden/engine"
)

// event is one step of a request's progress, sent from the decode loop to
// the goroutine serving the request.
type event struct {
	piece     string               // text of one generated token ("" for control tokens)
	logprob   *engine.TokenLogprob // the token's, when the request asked
	embedding []float32            // an embedding request's result, on its last event
	finish    engine.FinishReason  // set on the last event
	err       error                // set on the last event when generation failed
}

// mailbox carries events without ever blocking the decode loop: a slow
// client must not stall the other sequences in the batch. It holds at most
// one event per generated token, which the context size bounds.
type mailbox struct {
	mu     sync.Mutex
	events []event
	ready  chan struct{} // holds one signal while events is non-empty
}

func newMailbox() *mailbox { return &mailbox{ready: make(chan struct{}, 1)} }

func (b *mailbox) put(e event) {
	b.mu.Lock()
	b.events = append(b.events, e)
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default: // a signal is already pending
	}
}

func (b *mailbox) take() []event {
	b.mu.Lock()
	defer b.mu.Unlock()
	events := b.events
	b.events = nil
	return events
}
