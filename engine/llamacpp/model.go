// Package llamacpp runs GGUF models through llama.cpp, by way of the cgo
// bindings in github.com/ollama/ollama/llama. It is the only package that
// touches them: everything else sees an engine.Generator.
package llamacpp

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ollama/ollama/llama"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/chat"
	"github.com/warden-llm/warden/engine/fit"
	"github.com/warden-llm/warden/engine/gbnf"
	"github.com/warden-llm/warden/engine/gguf"
)

// Config says which model to load and how to run it.
type Config struct {
	Path     string // GGUF file
	Name     string // name clients use; defaults to the file name without extension
	SHA256   string // digest the caller verified, reported in ModelInfo
	Context  int    // tokens per request (prompt plus completion); 0: the model's, at most 4096
	Parallel int    // requests decoded together; 0: 1
	Batch    int    // most tokens decoded in one step; 0: 512

	// Requests beyond Parallel wait in arrival order, at most Queue of them
	// (0: DefaultQueue) for at most QueueTimeout (0: DefaultQueueTimeout);
	// past either limit they fail with engine.ErrQueueFull or
	// engine.ErrQueueTimeout.
	Queue        int
	QueueTimeout time.Duration

	// AdmitWait is how long the decode loop waits, after a step in which
	// a request ended, for another to take its slot before the next step
	// (0: not at all). Worth a few milliseconds when requests come from
	// another process (engine/runner).
	AdmitWait time.Duration

	Threads   int // CPU threads; 0: all
	GPULayers int // layers offloaded to a GPU; negative: all
	// KVType is the KV cache element type, one of fit.CacheTypes; zero
	// means fit.CacheF16. Quantized caches need flash attention, which
	// llama.cpp enables where the device supports it.
	KVType fit.CacheType
	Logger *slog.Logger
}

// Defaults for Config fields left zero.
const (
	DefaultMaxContext   = 4096
	DefaultBatch        = 512
	DefaultQueue        = 32
	DefaultQueueTimeout = 2 * time.Minute
)

// Model is a loaded model with its decode loop. It is safe for concurrent
// use; requests beyond Config.Parallel wait for a free slot.
type Model struct {
	cfg      Config
	info     engine.ModelInfo
	log      *slog.Logger
	model    *llama.Model
	lctx     *llama.Context
	template chat.Template
	facts    modelFacts
	memory   Memory         // what llama.cpp allocated
	alphabet *gbnf.Alphabet // what its tokens can write, for grammars

	gpuOnly bool // a GPU holds every layer: llama.cpp's CPU threads only wait

	llamaPooling pooling // pooling llama.cpp applies itself: none but for embedding models
	pooling      pooling // pooling Warden applies to a generative model's states

	// mu guards the llama.cpp model against Close while callers tokenize;
	// the decode loop has its own exit handshake through stop and done.
	mu     sync.RWMutex
	closed bool

	reusedTokens atomic.Int64 // prompt tokens whose KV a previous request left
	live         liveStats    // what Stats reports beyond cfg and memory

	tickets   chan struct{} // one per admitted request: Parallel running plus Queue waiting
	submit    chan *request
	stop      chan struct{} // closed by Close
	done      chan struct{} // closed when the decode loop has exited
	closeOnce sync.Once
}

var _ engine.Generator = (*Model)(nil)

// Load validates the GGUF header in Go, then hands the file to llama.cpp
// and starts the decode loop. ctx bounds only the wait, not the load itself,
// which llama.cpp cannot interrupt.
func Load(ctx context.Context, cfg Config) (*Model, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	meta, err := gguf.OpenModel(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", cfg.Path, err)
	}
	facts, err := readFacts(meta)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", cfg.Path, err)
	}
	cfg = withDefaults(cfg, facts)
	if err := cfg.KVType.Check(); err != nil {
		return nil, fmt.Errorf("load %s: %w", cfg.Path, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	start := time.Now()
	kernels := initBackends()
	if kernels.Err != nil {
		return nil, fmt.Errorf("load %s: %w", cfg.Path, kernels.Err)
	}
	gpuLayers := cfg.GPULayers
	if gpuLayers < 0 {
		gpuLayers = facts.layers + 1 // every block plus the output layer
	}
	gpuOnly := allOnGPU(gpuLayers, facts.layers, hasGPU(Devices()))
	model, lctx, memory, err := openLlama(cfg, gpuLayers, gpuOnly, cfg.KVType)
	if err != nil {
		return nil, err
	}

	m := &Model{
		cfg:      cfg,
		log:      cfg.Logger,
		model:    model,
		lctx:     lctx,
		template: chat.Detect(facts.chatTemplate),
		facts:    facts,
		memory:   memory,
		alphabet: vocabAlphabet(model),

		gpuOnly: gpuOnly,

		llamaPooling: contextPooling(lctx),
		pooling:      goPooling(facts.pooling),

		tickets: make(chan struct{}, cfg.Parallel+cfg.Queue),
		submit:  make(chan *request),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	m.info = engine.ModelInfo{
		Name:         cfg.Name,
		Path:         cfg.Path,
		SHA256:       cfg.SHA256,
		Architecture: facts.architecture,
		Context:      cfg.Context,
		Template:     m.template.Name(),
		Dimensions:   m.model.NEmbd(),
		Created:      start.Unix(),
	}
	m.live.loadTime = time.Since(start)
	loop, err := newDecodeLoop(m)
	if err != nil {
		m.free()
		return nil, fmt.Errorf("load %s: %w", cfg.Path, err)
	}
	go loop.run()
	m.log.Info("model loaded", "model", cfg.Name, "path", cfg.Path, "context", cfg.Context,
		"parallel", cfg.Parallel, "threads", cfg.Threads, "template", m.template.Name(),
		"cpu_kernels", kernels.Variant, "cpu_features", strings.Join(kernels.Features, ","),
		"load_time", time.Since(start).Round(time.Millisecond))
	m.logMemory(meta, gpuLayers, cfg.KVType)
	return m, nil
}

func withDefaults(cfg Config, facts modelFacts) Config {
	if cfg.Name == "" {
		cfg.Name = strings.TrimSuffix(filepath.Base(cfg.Path), filepath.Ext(cfg.Path))
	}
	if cfg.Context <= 0 {
		cfg.Context = DefaultMaxContext
		if facts.trainContext > 0 {
			cfg.Context = min(facts.trainContext, DefaultMaxContext)
		}
	}
	cfg.Parallel = max(cfg.Parallel, 1)
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	cfg.Batch = max(cfg.Batch, cfg.Parallel) // room for one token per sequence
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = DefaultQueueTimeout
	}
	if cfg.Threads <= 0 {
		cfg.Threads = runtime.NumCPU()
	}
	if cfg.KVType == "" {
		cfg.KVType = fit.CacheF16
	}
	return cfg
}

// CPUThreads is how many threads llama.cpp computes this model's layers on
// the CPU with; 0 when a GPU holds them all.
func (m *Model) CPUThreads() int {
	if m.gpuOnly {
		return 0
	}
	return m.cfg.Threads
}

// Info describes the loaded model.
func (m *Model) Info() engine.ModelInfo { return m.info }

// Close stops the decode loop, fails the requests still running with
// engine.ErrClosed and frees the model's memory.
func (m *Model) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		<-m.done
		m.mu.Lock()
		defer m.mu.Unlock()
		m.closed = true
		m.free()
	})
	return nil
}

func (m *Model) free() {
	freeContext(m.lctx)
	llama.FreeModel(m.model)
}

// Generate implements engine.Generator.
func (m *Model) Generate(ctx context.Context, req engine.Request, emit func(string) error) (engine.Result, error) {
	if err := req.Validate(); err != nil {
		return engine.Result{}, err
	}
	if m.llamaPooling != poolNone {
		return engine.Result{}, engine.ErrEmbeddingOnly
	}
	grammar, err := grammarFor(req.Format, m.alphabet)
	if err != nil {
		return engine.Result{}, err
	}
	tokens, sampler, err := m.prepare(req, grammar)
	if err != nil {
		return engine.Result{}, err
	}
	limit, err := m.completionLimit(len(tokens), req.MaxTokens)
	if err != nil {
		return engine.Result{}, err
	}
	stops := req.Stop
	if len(req.Messages) > 0 {
		stops = slices.Concat(req.Stop, m.template.Stops())
	}
	release, err := m.takeTicket()
	if err != nil {
		return engine.Result{}, err
	}
	defer release()

	// Cancelling ctx (client gone) or reaching a stop string frees the slot:
	// the decode loop checks the request's context before every step.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &request{ctx: ctx, tokens: tokens, limit: limit, ignoreEOS: req.IgnoreEOS, sampler: sampler,
		logprobs: req.Logprobs != nil, top: req.TopLogprobs, out: newMailbox()}
	queuedAt := time.Now()
	if err := m.enqueue(ctx, r); err != nil {
		return engine.Result{}, err
	}
	queued := time.Since(queuedAt)
	var trail *logprobTrail
	if req.Logprobs != nil {
		trail = &logprobTrail{report: req.Logprobs}
	}
	res, err := m.collect(ctx, r, engine.NewTextStream(stops), trail, emit)
	res.Queued = queued
	return res, err
}

// prepare tokenizes a request and makes its sampler, under the read lock
// that keeps the model from being freed meanwhile.
func (m *Model) prepare(req engine.Request, grammar string) ([]int, *llama.SamplingContext, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, nil, engine.ErrClosed
	}
	tokens, err := m.tokenize(req)
	if err != nil {
		return nil, nil, err
	}
	sampler, err := m.newSampler(req.Sampling, grammar)
	return tokens, sampler, err
}

// takeTicket admits a request, to a slot or to the queue, or refuses it at
// once when the queue is full. release gives the ticket back.
func (m *Model) takeTicket() (release func(), err error) {
	select {
	case m.tickets <- struct{}{}:
		return func() { <-m.tickets }, nil
	default:
		return nil, engine.ErrQueueFull
	}
}

// enqueue hands r to the decode loop, waiting at most QueueTimeout for a
// slot.
func (m *Model) enqueue(ctx context.Context, r *request) error {
	wait := time.NewTimer(m.cfg.QueueTimeout)
	defer wait.Stop()
	select {
	case m.submit <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-m.stop:
		return engine.ErrClosed
	case <-wait.C:
		return engine.ErrQueueTimeout
	}
}

// collect turns the loop's events into text for emit until the request
// ends. trail, when set, reports log probabilities along with the text.
func (m *Model) collect(ctx context.Context, r *request, text *engine.TextStream, trail *logprobTrail, emit func(string) error) (engine.Result, error) {
	res := engine.Result{PromptTokens: len(r.tokens)}
	send := func(piece string, final bool) error {
		if trail != nil {
			trail.release(len(piece), final)
		}
		if piece == "" {
			return nil
		}
		return emit(piece)
	}
	for {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-r.out.ready:
		}
		for _, ev := range r.out.take() {
			if ev.err != nil {
				return res, ev.err
			}
			if ev.finish != "" {
				res.FinishReason = ev.finish
				return res, send(text.Flush(), true)
			}
			res.CompletionTokens++
			if trail != nil && ev.logprob != nil {
				trail.add(*ev.logprob, ev.piece)
			}
			piece, stopped := text.Add(ev.piece)
			if err := send(piece, stopped); err != nil {
				return res, err
			}
			if stopped {
				res.FinishReason = engine.FinishStop
				return res, nil
			}
		}
	}
}

// completionLimit is how many tokens a request may generate: max_tokens if
// it fits the context, else what is left after the prompt.
func (m *Model) completionLimit(prompt, maxTokens int) (int, error) {
	room := m.cfg.Context - prompt
	switch {
	case room < 1:
		return 0, engine.ContextError(m.cfg.Context, prompt, 0)
	case maxTokens > room:
		return 0, engine.ContextError(m.cfg.Context, prompt, maxTokens)
	case maxTokens > 0:
		return maxTokens, nil
	}
	return room, nil
}
