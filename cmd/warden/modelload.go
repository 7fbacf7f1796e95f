package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/models/trust"
	"github.com/warden-llm/warden/store"
	"github.com/warden-llm/warden/store/audit"
)

// modelLoader verifies and loads models with serve's settings. serve
// loads its first model with it, and the server uses it for models an
// admin loads, and to re-check loaded models when the lockfile changes.
type modelLoader struct {
	lockPath string
	o        serveOptions
	g        *globalOptions
	dir      store.Dir
	log      *slog.Logger
	audit    *audit.Log // where engine crashes are recorded
}

// loadedModel is a model serve runs: in an engine process of its own
// (runner.Process) or in serve's (llamacpp.Model).
type loadedModel interface {
	engine.Generator
	CPUThreads() int
	Close() error
}

// load checks arg (a lockfile name, a path, or "" for the demo) and loads
// it. Only serve's own --model may be unpinned, under --allow-unpinned.
func (l *modelLoader) load(ctx context.Context, arg string, allowUnpinned bool) (loadedModel, *trust.Choice, error) {
	req := trust.Request{Model: arg, LockPath: l.lockPath, AllowUnpinned: allowUnpinned, Reverify: l.o.reverify,
		Require: l.o.require}
	choice, err := trust.Choose(ctx, req, l.dir, l.log)
	if err != nil {
		return nil, nil, err
	}
	var model loadedModel
	if l.o.engine.isolation == isolationProcess {
		// The engine process plans the memory and loads the descriptor
		// that was hashed; the Process keeps it open for restarts.
		proc, err := l.startEngine(ctx, choice)
		if err != nil {
			choice.Release()
			return nil, nil, err
		}
		model = proc
	} else {
		defer choice.Release()
		if model, err = newEngineLoad(choice, l.o).loadModel(ctx, l.log, choice.LoadPath()); err != nil {
			return nil, nil, err
		}
	}
	if err := choice.CheckUnchanged(); err != nil {
		model.Close()
		return nil, nil, err
	}
	return model, choice, nil
}

// Load implements server.ModelLoader: a pinned model, by lockfile name.
func (l *modelLoader) Load(ctx context.Context, name string) (engine.Generator, error) {
	if trust.LooksLikePath(name) {
		return nil, fmt.Errorf("load %q: name a model pinned in models.lock, not a file", name)
	}
	m, _, err := l.load(ctx, name, false)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// StillPinned implements server.ModelLoader: it re-reads the lockfile and
// checks that it still pins the loaded file. An unpinned model served
// under --allow-unpinned stays, as it was never pinned.
func (l *modelLoader) StillPinned(_ context.Context, info engine.ModelInfo) error {
	return trust.StillPinned(l.lockPath, info.Name, info.SHA256, l.o.allowUnpinned)
}
