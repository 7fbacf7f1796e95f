package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/warden-llm/warden/engine"
)

// Engine is what the child process serves: a loaded model.
type Engine interface {
	engine.Generator
	Embed(ctx context.Context, inputs []engine.EmbedInput) ([]engine.Embedding, error)
	CountTokens(text string) (int, error)
	Stats() engine.Stats
	Close() error
}

// Loaded is a model the child's load function loaded, with what the
// parent learns about the process that runs it.
type Loaded struct {
	Engine     Engine
	CPUThreads int // threads llama.cpp computes on, for the parent's GOMAXPROCS
	CPUKernels engine.CPUKernels
}

// ChildOptions configure Serve.
type ChildOptions struct {
	// Load loads the model the parent's load frame describes. The
	// configuration is the parent's Options.Load, in JSON.
	Load func(ctx context.Context, config json.RawMessage) (Loaded, error)
	// Sandbox is what confines this process, reported to the parent.
	Sandbox []engine.SandboxMeasure
	Log     *slog.Logger
}

// Serve runs the child's side of the protocol on conn: hello, load, then
// requests until the parent asks it to shut down or goes away. The model
// is closed before it returns.
func Serve(ctx context.Context, conn io.ReadWriteCloser, o ChildOptions) error {
	w := newWire(conn)
	defer w.close()
	if err := w.send(kindHello, 0, helloMsg{Version: protocolVersion, PID: os.Getpid()}); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	f, err := w.recv()
	if err != nil {
		return fmt.Errorf("wait for load: %w", err)
	}
	if f.kind != kindLoad {
		return fmt.Errorf("first frame is %d, want load", f.kind)
	}
	hooks := testHooks()
	ready := readyMsg{Sandbox: o.Sandbox, Probe: hooks.runProbe()}
	loaded, err := o.Load(ctx, f.body)
	if err != nil {
		ready.Err = toWireError(err)
		return errors.Join(err, w.send(kindReady, 0, ready))
	}
	ready.Info, ready.CPUThreads, ready.CPUKernels = loaded.Engine.Info(), loaded.CPUThreads, loaded.CPUKernels
	s := &child{w: w, eng: loaded.Engine, hooks: hooks, log: o.Log, running: map[uint64]context.CancelFunc{}}
	defer s.close()
	if err := w.send(kindReady, 0, ready); err != nil {
		return fmt.Errorf("ready: %w", err)
	}
	return s.serve(ctx)
}

// child serves requests from one parent.
type child struct {
	w     *wire
	eng   Engine
	hooks hooks
	log   *slog.Logger

	mu      sync.Mutex
	running map[uint64]context.CancelFunc
	wg      sync.WaitGroup
}

// serve reads frames until shutdown or the parent's end closes; each
// request runs in its own goroutine, as the server's handlers would.
func (s *child) serve(ctx context.Context) error {
	for {
		f, err := s.w.recv()
		if errors.Is(err, io.EOF) {
			return nil // the parent went away: nothing to answer
		}
		if err != nil {
			return err
		}
		switch f.kind {
		case kindGenerate:
			var msg generateMsg
			if err := f.decode(&msg); err != nil {
				return err
			}
			s.start(ctx, f.id, func(ctx context.Context) { s.generate(ctx, f.id, msg) })
		case kindEmbed:
			var inputs []engine.EmbedInput
			if err := f.decode(&inputs); err != nil {
				return err
			}
			s.start(ctx, f.id, func(ctx context.Context) { s.embed(ctx, f.id, inputs) })
		case kindCount:
			// In its own goroutine: a long text takes a while to tokenize,
			// and the frames of other requests (a cancel) must not wait.
			text := string(f.body)
			s.start(ctx, f.id, func(context.Context) {
				n, err := s.eng.CountTokens(text)
				s.reply(f.id, replyMsg{Tokens: n, Err: toWireError(err)})
			})
		case kindStats:
			st := s.eng.Stats()
			s.reply(f.id, replyMsg{Stats: &st})
		case kindCancel:
			s.mu.Lock()
			if cancel, ok := s.running[f.id]; ok {
				cancel()
			}
			s.mu.Unlock()
		case kindShutdown:
			return nil
		default:
			return fmt.Errorf("unknown frame kind %d", f.kind)
		}
	}
}

// start runs fn for request id in a goroutine, cancellable by id.
func (s *child) start(ctx context.Context, id uint64, fn func(context.Context)) {
	ctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.running[id] = cancel
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.running, id)
			s.mu.Unlock()
			cancel()
		}()
		fn(ctx)
	}()
}

func (s *child) generate(ctx context.Context, id uint64, msg generateMsg) {
	pieces := 0
	emit := func(text string) error {
		if err := s.w.sendRaw(kindText, id, []byte(text)); err != nil {
			return err
		}
		pieces++
		s.hooks.afterPiece(msg, pieces)
		return nil
	}
	logprobs := func(lps []engine.TokenLogprob) {
		if err := s.w.send(kindLogprobs, id, toWireLogprobs(lps)); err != nil {
			s.log.Debug("send logprobs", "err", err)
		}
	}
	res, err := s.eng.Generate(ctx, msg.request(logprobs), emit)
	if err := s.w.send(kindDone, id, doneMsg{Result: res, Err: toWireError(err)}); err != nil {
		s.log.Debug("send done", "err", err)
	}
}

func (s *child) embed(ctx context.Context, id uint64, inputs []engine.EmbedInput) {
	out, err := s.eng.Embed(ctx, inputs)
	s.reply(id, replyMsg{Embeddings: out, Err: toWireError(err)})
}

func (s *child) reply(id uint64, r replyMsg) {
	if err := s.w.send(kindReply, id, r); err != nil {
		s.log.Debug("send reply", "err", err)
	}
}

// close stops what still runs and frees the model.
func (s *child) close() {
	s.mu.Lock()
	for _, cancel := range s.running {
		cancel()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if err := s.eng.Close(); err != nil {
		s.log.Warn("close model", "err", err)
	}
}
