package runner

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/warden-llm/warden/engine"
)

// Options configure a Process.
type Options struct {
	Name    string   // the model, for logs and events
	Path    string   // the model file's real path, which Info reports
	Command []string // the engine process's executable and arguments
	Env     []string // its whole environment (see Environ)
	// Model is the verified model file, handed to every engine process
	// as descriptor 3; it stays open for restarts.
	Model *os.File
	Load  any // the load configuration, sent in JSON; the child's Load reads it
	// Recheck runs before each restart: an error (the file changed since
	// it was verified) gives the model up instead.
	Recheck func() error
	// Release runs once the Process is closed, e.g. to close Model.
	Release func()

	MaxCrashes int           // crashes in a row before the model is given up; 0: 3
	Backoff    time.Duration // first restart's delay, doubled each crash in a row; 0: 1 s
	MaxBackoff time.Duration // 0: 30 s
	// WaitReady is how long a request waits for a restarting engine
	// before it fails with engine.ErrEngineUnavailable; 0: 2 minutes.
	WaitReady time.Duration
	// NetworkNamespace starts engine processes in an empty network
	// namespace where the kernel lets this user make one.
	NetworkNamespace bool

	Stderr  io.Writer   // the engine's log; nil: os.Stderr
	OnEvent func(Event) // crashes, restarts and giving up, e.g. for the audit log
	Log     *slog.Logger
}

// Event is something that happened to a model's engine process.
type Event struct {
	Kind    string // EventCrash, EventRestart or EventGiveUp
	Model   string
	PID     int    // the process it concerns
	Exit    string // how a crashed process ended, e.g. "signal: aborted"
	Lost    int    // requests a crashed process held
	InARow  int    // crashes in a row so far
	Restart time.Duration
	Err     error // why it was given up, or why a restart failed
}

// Kinds of Event.
const (
	EventCrash   = "engine_crash"
	EventRestart = "engine_restart"
	EventGiveUp  = "engine_give_up"
)

// Process runs one model in a supervised engine process and serves it to
// the server as an in-process model would be: it implements
// engine.Generator, Embed, CountTokens, Stats and io.Closer. If the engine
// process dies, the requests it held fail with engine.ErrEngineLost and
// it starts again, after a delay that doubles with every crash in a row;
// after MaxCrashes in a row the model is given up: Failed is closed.
type Process struct {
	o    Options
	life context.Context // ends at Close: stops a restart in progress
	stop context.CancelFunc

	info       engine.ModelInfo
	cpuThreads int
	kernels    engine.CPUKernels

	mu       sync.Mutex
	cur      *instance // nil while none is ready
	state    string
	changed  chan struct{} // closed and replaced whenever cur or state changes
	starts   int
	crashes  int
	inARow   int
	lastExit string
	sandbox  []engine.SandboxMeasure
	giveUp   error
	failed   chan struct{}
}

// instance is one engine process.
type instance struct {
	pid     int
	conn    *conn
	exited  chan struct{} // closed once the process has been waited for
	exitErr error
	kill    func() error
}

// Start starts the engine process and loads the model in it. A failure
// here, a crash during the load included, is returned, not retried.
func Start(ctx context.Context, o Options) (*Process, error) {
	o.MaxCrashes = cmp.Or(o.MaxCrashes, 3)
	o.Backoff = cmp.Or(o.Backoff, time.Second)
	o.MaxBackoff = cmp.Or(o.MaxBackoff, 30*time.Second)
	o.WaitReady = cmp.Or(o.WaitReady, 2*time.Minute)
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.OnEvent == nil {
		o.OnEvent = func(Event) {}
	}
	p := &Process{o: o, changed: make(chan struct{}), failed: make(chan struct{}), state: engine.ProcessRestarting}
	p.life, p.stop = context.WithCancel(context.Background())
	inst, ready, err := p.spawn(ctx)
	if err != nil {
		p.stop()
		return nil, err
	}
	p.info, p.cpuThreads, p.kernels = ready.Info, ready.CPUThreads, ready.CPUKernels
	p.info.Path = cmp.Or(o.Path, p.info.Path)
	p.running(inst, ready)
	return p, nil
}

// running makes inst the engine that serves requests.
func (p *Process) running(inst *instance, ready readyMsg) {
	p.mu.Lock()
	if p.state == engine.ProcessStopped {
		// Closed while this one was starting: it serves nothing.
		p.mu.Unlock()
		stopInstance(inst)
		return
	}
	p.cur, p.state, p.sandbox = inst, engine.ProcessRunning, ready.Sandbox
	p.broadcast()
	p.mu.Unlock()
	go p.supervise(inst)
}

// broadcast wakes whoever waits on a change; p.mu is held.
func (p *Process) broadcast() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// supervise waits for inst's connection to end. Unless the Process is
// closing, that is a crash: the requests it held fail, and the engine
// starts again or, after too many crashes in a row, is given up.
func (p *Process) supervise(inst *instance) {
	readErr := inst.conn.read()
	select {
	case <-inst.exited:
	case <-time.After(5 * time.Second):
		// The socket closed but the process lives on: it is broken.
		_ = inst.kill()
		<-inst.exited
	}
	p.mu.Lock()
	if p.state == engine.ProcessStopped {
		p.mu.Unlock()
		inst.conn.fail(engine.ErrClosed)
		return
	}
	exit := describeExit(inst.exitErr)
	p.cur, p.state = nil, engine.ProcessRestarting
	p.crashes++
	p.inARow++
	p.lastExit = exit
	inARow := p.inARow
	p.broadcast()
	p.mu.Unlock()
	lost := inst.conn.fail(fmt.Errorf("%w (%s)", engine.ErrEngineLost, exit))
	p.o.Log.Error("ENGINE PROCESS DIED: the requests it held failed", "model", p.o.Name, "pid", inst.pid,
		"exit", exit, "lost_requests", lost, "crashes_in_a_row", inARow, "read_err", readErr)
	p.o.OnEvent(Event{Kind: EventCrash, Model: p.o.Name, PID: inst.pid, Exit: exit, Lost: lost, InARow: inARow})
	p.restart()
}

// restart starts a new engine process after the backoff, until one is
// running, the crashes in a row reach the limit, or the Process closes.
func (p *Process) restart() {
	for {
		p.mu.Lock()
		inARow := p.inARow
		p.mu.Unlock()
		if inARow >= p.o.MaxCrashes {
			p.abandon(fmt.Errorf("its engine process crashed %d times in a row (last: %s)", inARow, p.lastExitStatus()))
			return
		}
		delay := backoff(p.o.Backoff, p.o.MaxBackoff, inARow)
		select {
		case <-p.life.Done():
			return
		case <-time.After(delay):
		}
		if p.o.Recheck != nil {
			if err := p.o.Recheck(); err != nil {
				p.abandon(fmt.Errorf("the model file is no longer the one verified: %w", err))
				return
			}
		}
		inst, ready, err := p.spawn(p.life)
		if err == nil {
			p.o.Log.Warn("engine process restarted", "model", p.o.Name, "pid", inst.pid, "after", delay)
			p.o.OnEvent(Event{Kind: EventRestart, Model: p.o.Name, PID: inst.pid, InARow: inARow, Restart: delay})
			p.running(inst, ready)
			return
		}
		if p.life.Err() != nil {
			return
		}
		p.mu.Lock()
		p.crashes++
		p.inARow++
		p.lastExit = err.Error()
		p.mu.Unlock()
		p.o.Log.Error("engine process failed to restart", "model", p.o.Name, "err", err)
		p.o.OnEvent(Event{Kind: EventCrash, Model: p.o.Name, Exit: err.Error(), InARow: inARow + 1, Err: err})
	}
}

// backoff is the delay before a restart after inARow crashes in a row:
// first, doubled each time, at most most.
func backoff(first, most time.Duration, inARow int) time.Duration {
	d := first
	for range inARow - 1 {
		if d >= most/2 {
			return most
		}
		d *= 2
	}
	return min(d, most)
}

func (p *Process) lastExitStatus() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastExit
}

// abandon gives the model up: it stays failed until unloaded.
func (p *Process) abandon(why error) {
	p.mu.Lock()
	if p.state == engine.ProcessStopped {
		p.mu.Unlock()
		return
	}
	p.state, p.giveUp = engine.ProcessFailed, why
	p.broadcast()
	p.mu.Unlock()
	p.o.Log.Error("MODEL GIVEN UP: not restarting its engine", "model", p.o.Name, "why", why)
	// Recorded before Failed closes, so that the record of why comes
	// before whatever unloading the model leads to.
	p.o.OnEvent(Event{Kind: EventGiveUp, Model: p.o.Name, Err: why})
	close(p.failed)
}

// Failed is closed when the model was given up; Err then says why.
func (p *Process) Failed() <-chan struct{} { return p.failed }

// Err is why the model was given up, or nil.
func (p *Process) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.giveUp
}

// conn waits for a running engine process.
func (p *Process) conn(ctx context.Context) (*conn, error) {
	timeout := time.NewTimer(p.o.WaitReady)
	defer timeout.Stop()
	for {
		p.mu.Lock()
		cur, state, changed, why := p.cur, p.state, p.changed, p.giveUp
		p.mu.Unlock()
		switch {
		case cur != nil:
			return cur.conn, nil
		case state == engine.ProcessStopped:
			return nil, engine.ErrClosed
		case state == engine.ProcessFailed:
			return nil, fmt.Errorf("%w: model %s was given up: %v", engine.ErrEngineUnavailable, p.o.Name, why)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timeout.C:
			return nil, fmt.Errorf("%w: model %s's engine is restarting; retry shortly", engine.ErrEngineUnavailable, p.o.Name)
		}
	}
}

// worked resets the count of crashes in a row: an engine that answered
// a request works.
func (p *Process) worked() {
	p.mu.Lock()
	p.inARow = 0
	p.mu.Unlock()
}

// Info implements engine.Generator.
func (p *Process) Info() engine.ModelInfo { return p.info }

// CPUThreads is how many threads the engine computes on.
func (p *Process) CPUThreads() int { return p.cpuThreads }

// CPUKernels says which CPU kernels the engine process loaded.
func (p *Process) CPUKernels() engine.CPUKernels { return p.kernels }

// Generate implements engine.Generator.
func (p *Process) Generate(ctx context.Context, req engine.Request, emit func(string) error) (engine.Result, error) {
	if err := req.Validate(); err != nil {
		return engine.Result{}, err
	}
	c, err := p.conn(ctx)
	if err != nil {
		return engine.Result{}, err
	}
	return c.generate(ctx, req, emit)
}

// Embed embeds inputs in the engine process.
func (p *Process) Embed(ctx context.Context, inputs []engine.EmbedInput) ([]engine.Embedding, error) {
	c, err := p.conn(ctx)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(inputs)
	if err != nil {
		return nil, err
	}
	r, err := c.roundTrip(ctx, kindEmbed, body)
	if err == nil {
		p.worked()
	}
	return r.Embeddings, err
}

// CountTokens implements engine.TokenCounter.
func (p *Process) CountTokens(text string) (int, error) {
	ctx, cancel := context.WithTimeout(p.life, p.o.WaitReady)
	defer cancel()
	c, err := p.conn(ctx)
	if err != nil {
		return 0, err
	}
	r, err := c.roundTrip(ctx, kindCount, []byte(text))
	return r.Tokens, err
}

// statsTimeout bounds how long Stats waits for the engine's answer.
const statsTimeout = 2 * time.Second

// Stats reports the engine's own statistics, when it can answer, and
// always the process's.
func (p *Process) Stats() engine.Stats {
	var st engine.Stats
	p.mu.Lock()
	cur := p.cur
	p.mu.Unlock()
	if cur != nil {
		ctx, cancel := context.WithTimeout(p.life, statsTimeout)
		r, err := cur.conn.roundTrip(ctx, kindStats, nil)
		cancel()
		if err == nil && r.Stats != nil {
			st = *r.Stats
		}
	}
	st.Process = p.process()
	return st
}

func (p *Process) process() *engine.Process {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := &engine.Process{State: p.state, Starts: p.starts, Crashes: p.crashes, LastExit: p.lastExit,
		Sandbox: append([]engine.SandboxMeasure(nil), p.sandbox...)}
	if p.cur != nil {
		pr.PID = p.cur.pid
	}
	return pr
}

// closeTimeout bounds how long Close waits for the engine to free the
// model and exit before it is killed.
const closeTimeout = 30 * time.Second

// Close stops the engine process: asked to exit, then killed if it has
// not within closeTimeout. Requests still running fail with
// engine.ErrClosed.
func (p *Process) Close() error {
	p.mu.Lock()
	if p.state == engine.ProcessStopped {
		p.mu.Unlock()
		return nil
	}
	cur := p.cur
	p.state, p.cur = engine.ProcessStopped, nil
	p.broadcast()
	p.mu.Unlock()
	p.stop()
	var err error
	if cur != nil {
		err = stopInstance(cur)
	}
	if p.o.Release != nil {
		p.o.Release()
	}
	return err
}

// stopInstance asks an engine process to free its model and exit, and
// kills it if it has not within closeTimeout. Requests it still holds
// fail with engine.ErrClosed.
func stopInstance(inst *instance) error {
	_ = inst.conn.w.send(kindShutdown, 0, nil)
	var err error
	select {
	case <-inst.exited:
	case <-time.After(closeTimeout):
		err = errors.Join(fmt.Errorf("engine process %d did not exit in %s: killed", inst.pid, closeTimeout), inst.kill())
		<-inst.exited
	}
	inst.conn.fail(engine.ErrClosed)
	return err
}
