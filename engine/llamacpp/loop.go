package llamacpp

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"time"

	"github.com/ollama/ollama/llama"

	"github.com/warden-llm/warden/engine"
)

// request is a tokenized prompt waiting for, or holding, a slot.
type request struct {
	ctx       context.Context
	tokens    []int
	limit     int // completion tokens allowed
	ignoreEOS bool
	sampler   *llama.SamplingContext // made by the caller: a bad grammar is the caller's error
	logprobs  bool
	top       int  // alternatives reported per token
	embed     bool // the prompt's pooled hidden state, not a completion
	out       *mailbox
}

// slot is one llama.cpp sequence: its own KV cells, position and sampler.
type slot struct {
	seq       int
	req       *request
	sampler   *llama.SamplingContext
	pending   []int // prompt tokens not decoded yet
	pos       int   // position of the next token fed to the model
	next      int   // sampled token to feed in the next step
	generated int
	logitsAt  int // batch index whose logits this slot samples; -1 for none

	embedAt []int     // batch indices of this step's hidden states an embedding needs
	sum     []float32 // hidden states collected so far for an embedding

	arrival uint64 // admission order, which decides whose prompt is decoded first
}

// decodeLoop owns the llama.cpp context: only its goroutine calls into it,
// so no lock guards the context, the batch or the slots.
type decodeLoop struct {
	m     *Model
	batch *llama.Batch
	slots []*slot // nil where free

	// cached holds, per sequence, the tokens whose KV cells it holds. A
	// finished request leaves them in place, so the next request sharing a
	// prefix (the next turn of a chat) skips evaluating that prefix.
	cached [][]int

	arrivals uint64  // requests admitted so far
	finished bool    // a request ended in the last step: its caller may send the next one
	yield    bool    // callers may be about to submit: a slot was released, or the loop woke
	prompts  []*slot // fill's scratch: the slots with prompt tokens pending
	take     []int   // fill's scratch: prompt tokens each sequence gets this step
}

func newDecodeLoop(m *Model) (*decodeLoop, error) {
	batch, err := llama.NewBatch(m.cfg.Batch, m.cfg.Parallel, 0)
	if err != nil {
		return nil, err
	}
	return &decodeLoop{m: m, batch: batch, slots: make([]*slot, m.cfg.Parallel), cached: make([][]int, m.cfg.Parallel),
		take: make([]int, m.cfg.Parallel)}, nil
}

func (l *decodeLoop) run() {
	defer close(l.m.done)
	defer l.batch.Free()
	for {
		l.publish()
		if !l.admit() {
			l.failAll(engine.ErrClosed)
			return
		}
		l.dropCancelled()
		if l.fill() == 0 {
			continue
		}
		l.m.live.steps.Add(1)
		if err := l.m.lctx.Decode(l.batch); err != nil {
			l.m.log.Error("decode failed", "err", err, "tokens", l.batch.NumTokens())
			l.failAll(fmt.Errorf("decode: %w", err))
			continue
		}
		l.sample()
	}
}

// admit fills free slots from the submit queue, blocking only while no
// slot is busy. It reports false once the model is closing.
func (l *decodeLoop) admit() bool {
	for l.hasFree() {
		var r *request
		if l.idle() {
			select {
			case r = <-l.m.submit:
				l.yield = true // its caller may have sent more at once, still on their way
				l.finished = false
			case <-l.m.stop:
				return false
			}
		} else {
			l.yieldToCallers()
			select {
			case r = <-l.m.submit:
			case <-l.m.stop:
				return false
			default:
				if r = l.linger(); r == nil {
					return l.open()
				}
			}
		}
		s := l.newSlot(r)
		l.arrivals++
		s.arrival = l.arrivals
		l.slots[s.seq] = s
	}
	return l.open()
}

// yieldToCallers lets runnable callers run before the loop looks for more
// work without waiting, at most once per step and only when some may be
// about to submit: those whose requests the last step finished, or the
// rest of a burst whose first request woke the loop. The loop itself woke
// them, so the scheduler would run them only once it blocks, in the next
// decode; a caller that submits again at once (Embed's workers, one input
// after another) would miss this step and leave its slot idle through it.
func (l *decodeLoop) yieldToCallers() {
	if l.yield {
		l.yield = false
		runtime.Gosched()
	}
}

// linger waits up to Config.AdmitWait, once after a step in which a
// request ended, for another to take the freed slot in this step rather
// than the next. A caller in another process (the engine process's
// parent, engine/runner) needs a few milliseconds to send a client's next
// request, where one in this process often resubmits before the loop
// moves on. It returns the request, or nil when none came in time.
func (l *decodeLoop) linger() *request {
	if !l.finished || l.m.cfg.AdmitWait <= 0 {
		return nil
	}
	l.finished = false
	t := time.NewTimer(l.m.cfg.AdmitWait)
	defer t.Stop()
	select {
	case r := <-l.m.submit:
		return r
	case <-l.m.stop:
	case <-t.C:
	}
	return nil
}

// open reports whether the model is still open: admit's answer when no
// request came.
func (l *decodeLoop) open() bool {
	select {
	case <-l.m.stop:
		return false
	default:
		return true
	}
}

func (l *decodeLoop) hasFree() bool {
	for _, s := range l.slots {
		if s == nil {
			return true
		}
	}
	return false
}

func (l *decodeLoop) idle() bool {
	for _, s := range l.slots {
		if s != nil {
			return false
		}
	}
	return true
}

// newSlot gives r the free sequence whose cached tokens share the longest
// prefix with its prompt, and keeps that prefix's KV cells.
func (l *decodeLoop) newSlot(r *request) *slot {
	seq, shared := -1, -1
	for i, s := range l.slots {
		if n := commonPrefix(l.cached[i], r.tokens); s == nil && n > shared {
			seq, shared = i, n
		}
	}
	// The last prompt token is always evaluated: its logits pick the first
	// new token. Embeddings other than the last token's need every state.
	reuse := min(shared, len(r.tokens)-1)
	if r.embed && (l.m.pooling != poolLast || l.m.llamaPooling != poolNone) {
		reuse = 0
	}
	if !l.m.lctx.KvCacheSeqRm(seq, reuse, -1) {
		l.m.lctx.KvCacheSeqRm(seq, -1, -1) // this cache cannot be cut; start over
		reuse = 0
	}
	l.cached[seq] = append(make([]int, 0, len(r.tokens)+r.limit), r.tokens[:reuse]...)
	if reuse > 0 {
		l.m.reusedTokens.Add(int64(reuse))
	}
	return &slot{seq: seq, req: r, sampler: r.sampler, pending: r.tokens[reuse:], pos: reuse, logitsAt: -1}
}

func commonPrefix(a, b []int) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// newSampler makes a request's sampler; grammar, when set, constrains it.
// It reads only the model, so callers run it outside the decode loop.
func (m *Model) newSampler(sp engine.Sampling, grammar string) (*llama.SamplingContext, error) {
	params := llama.SamplingParams{
		Grammar:        grammar,
		TopK:           sp.TopK,
		TopP:           sp.TopP,
		MinP:           sp.MinP,
		TypicalP:       1,
		Temp:           sp.Temperature,
		RepeatLastN:    sp.RepeatLastN,
		PenaltyRepeat:  sp.RepeatPenalty,
		PenaltyFreq:    sp.FrequencyPenalty,
		PenaltyPresent: sp.PresencePenalty,
		Seed:           sp.Seed,
	}
	if params.PenaltyRepeat == 0 {
		params.PenaltyRepeat = 1
	}
	if params.Seed == math.MaxUint32 {
		params.Seed-- // llama.cpp reads this value as "pick a random seed"
	}
	if params.RepeatLastN == 0 {
		params.RepeatLastN = 64 // llama.cpp's default window
	}
	if grammar != "" && !llamaAcceptsGrammar(grammar) {
		// grammarFor's checks should have refused it already; llama.cpp
		// would have left a null sampler in the chain, a crash at the
		// first token.
		return nil, &engine.InvalidError{Param: "response_format", Message: "the JSON schema could not be turned into a grammar llama.cpp accepts"}
	}
	sampler, err := llama.NewSamplingContext(m.model, params)
	if err != nil {
		return nil, fmt.Errorf("sampler: %w", err)
	}
	return sampler, nil
}

// llamaAcceptsGrammar asks llama.cpp's own parser and left-recursion check,
// which need no vocabulary, whether it can build a grammar sampler. The
// sampler chain itself does not report that failure.
func llamaAcceptsGrammar(grammar string) bool {
	g := llama.NewGrammar(grammar, []uint32{0}, []string{"a"}, []int32{0})
	if g == nil {
		return false
	}
	g.Free()
	return true
}

// dropCancelled frees the slots whose clients are gone, before any compute
// is spent on them.
func (l *decodeLoop) dropCancelled() {
	for _, s := range l.slots {
		if s != nil && s.req.ctx.Err() != nil {
			l.release(s)
		}
	}
}

// fill builds the next batch: one token for every generating sequence, then
// prompt chunks within what is left of the batch budget, so a long prompt
// delays running streams by at most one batch.
func (l *decodeLoop) fill() int {
	l.batch.Clear()
	budget := l.m.cfg.Batch
	for _, s := range l.slots {
		if s == nil || len(s.pending) > 0 {
			continue
		}
		s.logitsAt = l.batch.NumTokens()
		l.batch.Add(s.next, nil, s.pos, true, s.seq)
		l.cached[s.seq] = append(l.cached[s.seq], s.next)
		s.pos++
		budget--
	}
	// The budget goes to the oldest prompts first, but their tokens go into
	// the batch in sequence order: with several sequences (Parallel > 1)
	// llama.cpp splits a batch into ubatches of consecutive sequence IDs,
	// and one out of order would start another, another pass over the
	// model.
	for _, s := range l.waitingPrompts() {
		n := min(len(s.pending), budget)
		if s.req.embed && l.m.llamaPooling != poolNone && n < len(s.pending) {
			continue // llama.cpp pools within one batch: wait for room for all of it
		}
		l.take[s.seq] = n
		budget -= n
	}
	for _, s := range l.slots {
		if s != nil && l.take[s.seq] > 0 {
			l.addPrompt(s, l.take[s.seq])
			l.take[s.seq] = 0
		}
	}
	return l.batch.NumTokens()
}

// addPrompt adds the next n of s's prompt tokens to the batch.
func (l *decodeLoop) addPrompt(s *slot, n int) {
	s.logitsAt = -1
	for i, tok := range s.pending[:n] {
		last := i == n-1 && n == len(s.pending)
		output := last
		if s.req.embed {
			output = l.embedOutput(i, s.pos-i, n, n == len(s.pending))
			if output {
				s.embedAt = append(s.embedAt, l.batch.NumTokens())
			}
		} else if last {
			s.logitsAt = l.batch.NumTokens()
		}
		l.batch.Add(tok, nil, s.pos, output, s.seq)
		s.pos++
	}
	l.cached[s.seq] = append(l.cached[s.seq], s.pending[:n]...)
	s.pending = s.pending[n:]
}

// waitingPrompts lists the slots with prompt tokens pending, oldest request
// first. In slot order, a low slot that keeps getting new prompts (one
// caller's stream of embedding inputs) could take the batch budget step
// after step from a prompt in a higher one; in arrival order each waits at
// most for the prompts admitted before it.
func (l *decodeLoop) waitingPrompts() []*slot {
	l.prompts = l.prompts[:0]
	for _, s := range l.slots {
		if s != nil && len(s.pending) > 0 {
			l.prompts = append(l.prompts, s)
		}
	}
	slices.SortFunc(l.prompts, func(a, b *slot) int { return cmp.Compare(a.arrival, b.arrival) })
	return l.prompts
}

// sample picks the next token for every slot whose logits were computed,
// and collects the hidden states embedding requests asked for.
func (l *decodeLoop) sample() {
	for _, s := range l.slots {
		switch {
		case s == nil:
		case s.req.embed:
			l.collectEmbedding(s)
		case s.logitsAt >= 0:
			l.sampleOne(s)
		}
	}
}

func (l *decodeLoop) sampleOne(s *slot) {
	model := l.m.model
	tok := s.sampler.Sample(l.m.lctx, s.logitsAt)
	s.sampler.Accept(tok, true)
	at := s.logitsAt
	s.logitsAt = -1
	if model.TokenIsEog(tok) && !s.req.ignoreEOS {
		s.req.out.put(event{finish: engine.FinishStop})
		l.release(s)
		return
	}
	s.generated++
	ev := event{}
	if !l.m.facts.control[tok] {
		ev.piece = model.TokenToPiece(tok)
	}
	if s.req.logprobs {
		lp := logprobOf(model, l.m.lctx.GetLogitsIth(at), tok, s.req.top)
		ev.logprob = &lp
	}
	s.req.out.put(ev)
	if s.generated >= s.req.limit {
		s.req.out.put(event{finish: engine.FinishLength})
		l.release(s)
		return
	}
	s.next = tok
}

// release frees a slot for the next request. Its KV cells stay, for a
// request that shares their prefix.
func (l *decodeLoop) release(s *slot) {
	l.slots[s.seq] = nil
	l.yield = true
	l.finished = true
}

// failAll ends every running request. A failed decode may have left their
// KV cells half written, so those are dropped too.
func (l *decodeLoop) failAll(err error) {
	for _, s := range l.slots {
		if s != nil {
			s.req.out.put(event{err: err})
			l.m.lctx.KvCacheSeqRm(s.seq, -1, -1)
			l.cached[s.seq] = nil
			l.release(s)
		}
	}
}
