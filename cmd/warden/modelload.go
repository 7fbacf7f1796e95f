package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/llamacpp"
	"github.com/warden-llm/warden/models/lockfile"
	"github.com/warden-llm/warden/store"
)

// modelLoader verifies and loads models with serve's settings. serve
// loads its first model with it, and the server uses it for models an
// admin loads, and to re-check loaded models when the lockfile changes.
type modelLoader struct {
	lockPath string
	o        serveOptions
	dir      store.Dir
	log      *slog.Logger
}

// load checks arg (a lockfile name, a path, or "" for the demo) and loads
// it. Only serve's own --model may be unpinned, under --allow-unpinned.
func (l *modelLoader) load(ctx context.Context, arg string, allowUnpinned bool) (*llamacpp.Model, *modelChoice, error) {
	choice, err := chooseModel(ctx, modelRequest{arg: arg, lockPath: l.lockPath, allowUnpinned: allowUnpinned, reverify: l.o.reverify}, l.dir, l.log)
	if err != nil {
		return nil, nil, err
	}
	defer choice.release()
	o := l.o
	gpuLayers, err := planServe(l.log, choice.loadPath(), serveFit{ctx: o.ctx, parallel: o.parallel, batch: o.batch,
		gpuLayers: o.gpuLayers, kvType: o.kvType, fullGPU: o.fullGPU})
	if err != nil {
		return nil, nil, err
	}
	model, err := llamacpp.Load(ctx, llamacpp.Config{
		Path:         choice.loadPath(),
		Name:         choice.name,
		SHA256:       choice.sha256,
		Context:      o.ctx,
		Parallel:     o.parallel,
		Batch:        o.batch,
		Queue:        o.queue,
		QueueTimeout: o.queueTimeout,
		Threads:      o.threads,
		GPULayers:    gpuLayers,
		KVType:       o.kvType,
		Logger:       l.log,
	})
	if err != nil {
		return nil, nil, err
	}
	if err := choice.checkUnchanged(); err != nil {
		model.Close()
		return nil, nil, err
	}
	return model, choice, nil
}

// Load implements server.ModelLoader: a pinned model, by lockfile name.
func (l *modelLoader) Load(ctx context.Context, name string) (engine.Generator, error) {
	if looksLikePath(name) {
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
	lock, err := lockfile.Read(l.lockPath)
	if err != nil {
		return fmt.Errorf("lockfile unreadable, so nothing is pinned: %w", err)
	}
	entry, err := lock.Lookup(info.Name)
	switch {
	case err != nil && l.o.allowUnpinned:
		return nil
	case err != nil:
		return fmt.Errorf("models.lock no longer pins %q", info.Name)
	case entry.SHA256 != info.SHA256:
		return fmt.Errorf("models.lock now pins sha256 %s for %q; the loaded file has %s", entry.SHA256, info.Name, info.SHA256)
	}
	return nil
}
