package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/warden-llm/warden/engine"
)

// conn is the parent's side of one engine process's socket: it sends
// requests and routes the frames that come back to their callers by id.
type conn struct {
	w      *wire
	nextID atomic.Uint64
	// worked is called when a request completes without error: proof
	// that this engine process works, which resets the crash count.
	worked func()

	mu      sync.Mutex
	pending map[uint64]*call
	dead    chan struct{} // closed by fail, after which err is set
	err     error
}

// call collects the frames of one request as the reader delivers them;
// the caller's goroutine takes them in order. The queue is unbounded so
// that a slow client never holds up the reader, and so the other
// requests: one request's text is at most its context's worth.
type call struct {
	mu     sync.Mutex
	frames []frame
	notify chan struct{}
}

func newConn(w *wire, worked func()) *conn {
	return &conn{w: w, worked: worked, pending: map[uint64]*call{}, dead: make(chan struct{})}
}

func (c *conn) register() (uint64, *call) {
	id := c.nextID.Add(1)
	cl := &call{notify: make(chan struct{}, 1)}
	c.mu.Lock()
	c.pending[id] = cl
	c.mu.Unlock()
	return id, cl
}

func (c *conn) unregister(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// read delivers frames until the connection fails, and returns why.
// Frames of requests no longer waiting (cancelled) are dropped.
func (c *conn) read() error {
	for {
		f, err := c.w.recv()
		if err != nil {
			return err
		}
		c.mu.Lock()
		cl := c.pending[f.id]
		c.mu.Unlock()
		if cl == nil {
			continue
		}
		cl.mu.Lock()
		cl.frames = append(cl.frames, f)
		cl.mu.Unlock()
		select {
		case cl.notify <- struct{}{}:
		default:
		}
	}
}

// fail ends the connection: every request still waiting gets err. It
// returns how many there were.
func (c *conn) fail(err error) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.dead:
		return 0
	default:
	}
	c.err = err
	close(c.dead)
	c.w.close()
	return len(c.pending)
}

func (cl *call) take() []frame {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	f := cl.frames
	cl.frames = nil
	return f
}

// wait returns the request's next frames; when the connection has died
// and every frame it delivered was taken, the connection's error.
func (c *conn) wait(ctx context.Context, cl *call) ([]frame, error) {
	for {
		if f := cl.take(); len(f) > 0 {
			return f, nil
		}
		select {
		case <-cl.notify:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.dead:
			// The reader stopped before dead closed: what it delivered
			// is all there will be.
			if f := cl.take(); len(f) > 0 {
				return f, nil
			}
			return nil, c.err
		}
	}
}

// cancel tells the engine to stop request id; nothing waits for it.
func (c *conn) cancel(id uint64) {
	_ = c.w.send(kindCancel, id, nil)
}

// generate runs req in the engine process, calling emit (and
// req.Logprobs) with what it sends back, in order. If emit fails or ctx
// ends, the engine is told to stop and generate returns at once.
func (c *conn) generate(ctx context.Context, req engine.Request, emit func(string) error) (engine.Result, error) {
	id, cl := c.register()
	defer c.unregister(id)
	if err := c.w.send(kindGenerate, id, toGenerateMsg(req)); err != nil {
		return engine.Result{}, c.sendFailed(err)
	}
	for {
		frames, err := c.wait(ctx, cl)
		if err != nil {
			if ctx.Err() != nil {
				c.cancel(id)
			}
			return engine.Result{}, err
		}
		for _, f := range frames {
			switch f.kind {
			case kindText:
				if err := emit(string(f.body)); err != nil {
					c.cancel(id)
					return engine.Result{}, err
				}
			case kindLogprobs:
				var lps []wireLogprob
				if err := f.decode(&lps); err != nil {
					c.cancel(id)
					return engine.Result{}, err
				}
				if req.Logprobs != nil {
					req.Logprobs(fromWireLogprobs(lps))
				}
			case kindDone:
				var d doneMsg
				if err := f.decode(&d); err != nil {
					return engine.Result{}, err
				}
				if d.Err == nil {
					c.worked()
				}
				return d.Result, d.Err.err()
			default:
				return engine.Result{}, fmt.Errorf("engine sent frame %d for a generation", f.kind)
			}
		}
	}
}

// roundTrip sends one frame and waits for its reply.
func (c *conn) roundTrip(ctx context.Context, k kind, body []byte) (replyMsg, error) {
	id, cl := c.register()
	defer c.unregister(id)
	if err := c.w.sendRaw(k, id, body); err != nil {
		return replyMsg{}, c.sendFailed(err)
	}
	frames, err := c.wait(ctx, cl)
	if err != nil {
		if ctx.Err() != nil {
			c.cancel(id)
		}
		return replyMsg{}, err
	}
	if frames[0].kind != kindReply {
		return replyMsg{}, fmt.Errorf("engine answered frame %d with frame %d", k, frames[0].kind)
	}
	var r replyMsg
	if err := frames[0].decode(&r); err != nil {
		return replyMsg{}, err
	}
	return r, r.Err.err()
}

// sendFailed is the error of a request that could not be sent: the
// connection's own error once the reader has seen it die.
func (c *conn) sendFailed(err error) error {
	select {
	case <-c.dead:
		return c.err
	default:
		return errors.Join(engine.ErrEngineLost, err)
	}
}
