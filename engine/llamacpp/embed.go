package llamacpp

/*
// Declared here rather than through llama.h (see free.go): llama.cpp's
// enum llama_pooling_type, returned as int.
struct llama_context;
int llama_pooling_type(const struct llama_context *ctx);
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ollama/ollama/llama"

	"github.com/warden-llm/warden/engine"
)

// pooling is how one vector is made from a prompt's hidden states, numbered
// as llama.cpp's enum llama_pooling_type and GGUF's <arch>.pooling_type.
type pooling int

const (
	poolNone pooling = iota
	poolMean
	poolCLS
	poolLast
)

func (p pooling) String() string {
	switch p {
	case poolMean:
		return "mean"
	case poolCLS:
		return "cls"
	case poolLast:
		return "last"
	}
	return "none"
}

// contextPooling is the pooling llama.cpp applies itself in lctx: none for
// generative models, whose token states Warden pools, and the model's own
// for embedding models (BERT and kin), which have no generation head.
func contextPooling(lctx *llama.Context) pooling {
	return pooling(C.llama_pooling_type((*contextLayout)(unsafe.Pointer(lctx)).c))
}

// goPooling is the pooling Warden applies to a generative model's last
// hidden states: the one its <arch>.pooling_type names (llama.cpp reads
// that key only for embedding architectures), else the last token's state,
// which has attended to the whole input and costs nothing extra to get,
// as causal embedding models (E5-Mistral, Qwen3-Embedding) are trained.
func goPooling(declared pooling) pooling {
	switch declared {
	case poolMean, poolCLS, poolLast:
		return declared
	}
	return poolLast
}

// Embed returns one unit-length vector per input, in order. Up to Parallel
// inputs are in the decode loop at once, each in its own slot, so that they
// share its decode steps; the call still counts as one request against the
// queue.
func (m *Model) Embed(ctx context.Context, inputs []engine.EmbedInput) ([]engine.Embedding, error) {
	if len(inputs) == 0 || len(inputs) > engine.MaxEmbedInputs {
		return nil, &engine.InvalidError{Param: "input", Message: fmt.Sprintf("input must have 1 to %d entries", engine.MaxEmbedInputs)}
	}
	prompts, err := m.embedTokens(inputs)
	if err != nil {
		return nil, err
	}
	release, err := m.takeTicket()
	if err != nil {
		return nil, err
	}
	defer release()
	return m.embedAll(ctx, prompts)
}

// embedAll embeds prompts through at most Parallel workers, each with one
// request in the loop at a time. More would gain nothing, as the loop
// decodes at most Parallel sequences together, and would only wait for a
// slot against QueueTimeout. Each request takes its own slot when the
// loop admits it, and the loop never waits on a caller (its mailboxes do
// not block), so the workers cannot hold up one another or the loop. The
// first error, or the end of ctx, stops the rest: their requests' contexts
// end, and the loop drops them before its next step.
func (m *Model) embedAll(ctx context.Context, prompts [][]int) ([]engine.Embedding, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]engine.Embedding, len(prompts))
	var (
		next  atomic.Int64 // index of the next prompt to take
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	fail := func(err error) {
		once.Do(func() { first = err; cancel() })
	}
	for range min(m.cfg.Parallel, len(prompts)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(prompts) {
					return
				}
				if err := ctx.Err(); err != nil {
					fail(err)
					return
				}
				vec, err := m.embedOne(ctx, prompts[i])
				if err != nil {
					if ctx.Err() == nil { // not merely stopped by another's failure or the caller
						err = fmt.Errorf("embed input[%d]: %w", i, err)
					}
					fail(err)
					return
				}
				out[i] = engine.Embedding{Vector: vec, Tokens: len(prompts[i])}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return out, nil
}

// embedTokens tokenizes every input, or checks the token IDs a client sent,
// before any of them takes a slot.
func (m *Model) embedTokens(inputs []engine.EmbedInput) ([][]int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, engine.ErrClosed
	}
	vocab := m.model.NumVocab()
	prompts := make([][]int, len(inputs))
	for i, in := range inputs {
		param := fmt.Sprintf("input[%d]", i)
		tokens := in.Tokens
		if tokens == nil {
			if in.Text == "" {
				return nil, &engine.InvalidError{Param: param, Message: "input must not be empty"}
			}
			var err error
			if tokens, err = m.model.Tokenize(in.Text, true, false); err != nil {
				return nil, fmt.Errorf("tokenize %s: %w", param, err)
			}
		}
		for _, id := range tokens {
			if id < 0 || id >= vocab { // llama.cpp aborts on an unknown token
				return nil, &engine.InvalidError{Param: param, Message: fmt.Sprintf("token %d is not in the model's vocabulary of %d", id, vocab)}
			}
		}
		if len(tokens) == 0 {
			return nil, &engine.InvalidError{Param: param, Message: "input must not be empty"}
		}
		if err := m.fitsEmbedding(len(tokens)); err != nil {
			return nil, err
		}
		prompts[i] = tokens
	}
	return prompts, nil
}

func (m *Model) fitsEmbedding(n int) error {
	if n > m.cfg.Context {
		return engine.ContextError(m.cfg.Context, n, 0)
	}
	// llama.cpp pools a sequence within one batch, so the whole input must
	// fit one.
	if m.llamaPooling != poolNone && n > m.cfg.Batch {
		return &engine.InvalidError{Param: "input", Code: "context_length_exceeded",
			Message: fmt.Sprintf("an input may have at most %d tokens for this model (its batch size), not %d", m.cfg.Batch, n)}
	}
	return nil
}

func (m *Model) embedOne(ctx context.Context, tokens []int) ([]float32, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &request{ctx: ctx, tokens: tokens, embed: true, out: newMailbox()}
	if err := m.enqueue(ctx, r); err != nil {
		return nil, err
	}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-r.out.ready:
		}
		for _, ev := range r.out.take() {
			if ev.err != nil {
				return nil, ev.err
			}
			if ev.embedding != nil {
				return ev.embedding, nil
			}
		}
	}
}

// embedOutput says which of a chunk's tokens an embedding request needs
// hidden states for: token i of a chunk of n that starts at prompt position
// first, last when the chunk ends the prompt.
func (l *decodeLoop) embedOutput(i, first, n int, last bool) bool {
	if l.m.llamaPooling != poolNone {
		return true // llama.cpp pools over the outputs itself
	}
	switch l.m.pooling {
	case poolMean:
		return true
	case poolCLS:
		return first+i == 0
	}
	return last && i == n-1
}

// collectEmbedding adds the hidden states decoded for s this step and, once
// its prompt is all decoded, sends the pooled, normalized vector.
func (l *decodeLoop) collectEmbedding(s *slot) {
	for _, at := range s.embedAt {
		if l.m.llamaPooling != poolNone {
			continue
		}
		h := l.m.lctx.GetEmbeddingsIth(at)
		if s.sum == nil {
			s.sum = make([]float32, len(h))
		}
		for i, v := range h {
			s.sum[i] += v
		}
	}
	s.embedAt = s.embedAt[:0]
	if len(s.pending) > 0 {
		return
	}
	vec := s.sum
	if l.m.llamaPooling != poolNone {
		vec = l.m.lctx.GetEmbeddingsSeq(s.seq)
	}
	if vec == nil {
		s.req.out.put(event{err: fmt.Errorf("llama.cpp returned no embedding for sequence %d", s.seq)})
	} else {
		s.req.out.put(event{embedding: normalize(vec), finish: engine.FinishStop})
	}
	l.release(s)
}

// normalize scales v to unit length, as OpenAI's embeddings are, so that a
// dot product is the cosine similarity. Mean pooling needs no division
// first: scaling does not change the direction.
func normalize(v []float32) []float32 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return v
	}
	scale := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= scale
	}
	return v
}
