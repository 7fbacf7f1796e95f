package server

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/warden-llm/warden/engine"
)

// registry holds the models being served. Models can be loaded and
// unloaded while requests run: a request holds its model from lookup to
// answer, and an unload waits for those holds before freeing the model.
type registry struct {
	mu     sync.RWMutex
	models map[string]*served
}

type served struct {
	gen     engine.Generator
	running sync.WaitGroup
	gone    chan struct{} // closed when the model is unloaded
}

func newRegistry() *registry { return &registry{models: map[string]*served{}} }

// add serves gen. A model whose engine can be given up (see failer) is
// unloaded when that happens, and onFail is told why.
func (r *registry) add(gen engine.Generator, onFail func(name string, why error)) error {
	name := gen.Info().Name
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.models[name]; dup {
		return fmt.Errorf("a model named %q is already loaded", name)
	}
	m := &served{gen: gen, gone: make(chan struct{})}
	r.models[name] = m
	if f, ok := gen.(failer); ok {
		go r.unloadWhenFailed(name, m, f, onFail)
	}
	return nil
}

// failer is a model whose engine can fail for good, as a runner.Process
// does after crashing too often in a row: from then on it answers
// nothing, so it is no longer listed or routed to.
type failer interface {
	Failed() <-chan struct{}
	Err() error
}

func (r *registry) unloadWhenFailed(name string, m *served, f failer, onFail func(string, error)) {
	select {
	case <-m.gone:
		return
	case <-f.Failed():
	}
	ctx, cancel := context.WithTimeout(context.Background(), unloadWait)
	defer cancel()
	// Only m: an admin may have unloaded it and loaded the name again.
	if r.unloadServed(ctx, name, m) == nil {
		onFail(name, f.Err())
	}
}

// acquire finds a model and holds it until release.
func (r *registry) acquire(name string) (*served, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.models[name]
	if ok {
		m.running.Add(1) // under the read lock, so never after remove's Wait began
	}
	return m, ok
}

func (m *served) release() { m.running.Done() }

// info describes a model without holding it.
func (r *registry) info(name string) (engine.ModelInfo, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.models[name]
	if !ok {
		return engine.ModelInfo{}, false
	}
	return m.gen.Info(), true
}

// list returns the loaded models' descriptions, by name.
func (r *registry) list() []engine.ModelInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]engine.ModelInfo, 0, len(r.models))
	for _, m := range r.models {
		out = append(out, m.gen.Info())
	}
	slices.SortFunc(out, func(a, b engine.ModelInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// unload stops serving name: new requests no longer find it, running ones
// may finish until ctx ends, then the model is closed and its memory
// freed. Requests still running then fail with engine.ErrClosed.
func (r *registry) unload(ctx context.Context, name string) error {
	return r.unloadServed(ctx, name, nil)
}

// unloadServed is unload of name, only if it is still want (nil: any).
func (r *registry) unloadServed(ctx context.Context, name string, want *served) error {
	r.mu.Lock()
	m, ok := r.models[name]
	if ok && want != nil && m != want {
		ok = false
	}
	if ok {
		delete(r.models, name)
	}
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("model %q is not loaded", name)
	}
	close(m.gone)
	done := make(chan struct{})
	go func() {
		m.running.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	if c, ok := m.gen.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// closeAll unloads every model, for shutdown.
func (r *registry) closeAll(ctx context.Context) {
	for _, info := range r.list() {
		_ = r.unload(ctx, info.Name)
	}
}
