package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/fit"
	"github.com/warden-llm/warden/engine/llamacpp"
	"github.com/warden-llm/warden/engine/runner"
	"github.com/warden-llm/warden/engine/sandbox"
	"github.com/warden-llm/warden/models/trust"
	"github.com/warden-llm/warden/store/audit"
)

// engineOptions say where a model's engine runs: in a sandboxed engine
// process of its own (the default), or in serve's process.
type engineOptions struct {
	isolation    string // "process" or "in-process"
	sandbox      bool
	addressSpace uint64
	maxCrashes   int
}

const (
	isolationProcess   = "process"
	isolationInProcess = "in-process"
)

func (e *engineOptions) register(f *pflag.FlagSet) {
	f.StringVar(&e.isolation, "engine", isolationProcess, "where llama.cpp runs: process (a sandboxed engine process per model, restarted if it crashes) or in-process (in serve's own process: a crash there stops the server)")
	f.BoolVar(&e.sandbox, "engine-sandbox", true, "confine each engine process (Landlock, seccomp, no new privileges, no capabilities, an empty network namespace) where the kernel allows")
	f.Uint64Var(&e.addressSpace, "engine-address-space", 0, "address-space limit of each engine process, in bytes (0: none; CUDA needs far more address space than memory)")
	f.IntVar(&e.maxCrashes, "engine-max-crashes", 3, "engine crashes in a row after which a model is unloaded instead of restarted")
}

func (e *engineOptions) validate() error {
	switch {
	case e.isolation != isolationProcess && e.isolation != isolationInProcess:
		return fmt.Errorf("--engine (engine.isolation) %q: want %s or %s", e.isolation, isolationProcess, isolationInProcess)
	case e.maxCrashes < 1:
		return fmt.Errorf("--engine-max-crashes (engine.max_crashes) %d: want at least 1", e.maxCrashes)
	}
	return nil
}

// engineLoad is what an engine process loads: serve's settings for the
// model on runner.ModelFD. The memory plan is made there too, so that
// the parent never initialises a GPU (its context would cost memory the
// model needs) and never parses more of the file than the lockfile
// checks did.
type engineLoad struct {
	Name         string        `json:"name"`
	SHA256       string        `json:"sha256"`
	Context      int           `json:"context"`
	Parallel     int           `json:"parallel"`
	Batch        int           `json:"batch"`
	Queue        int           `json:"queue"`
	QueueTimeout time.Duration `json:"queue_timeout"`
	Threads      int           `json:"threads"`
	GPULayers    int           `json:"gpu_layers"`
	KVType       fit.CacheType `json:"kv_type"`
	FullGPU      bool          `json:"require_full_gpu"`
	AdmitWait    time.Duration `json:"admit_wait"` // engineAdmitWait in an engine process
}

// newEngineLoad is how serve's settings load choice, in an engine process
// or, with --engine in-process, in serve's own.
func newEngineLoad(choice *trust.Choice, o serveOptions) engineLoad {
	return engineLoad{Name: choice.Name, SHA256: choice.SHA256, Context: o.ctx, Parallel: o.parallel, Batch: o.batch,
		Queue: o.queue, QueueTimeout: o.queueTimeout, Threads: o.threads, GPULayers: o.gpuLayers, KVType: o.kvType, FullGPU: o.fullGPU}
}

// engineAdmitWait is how long an engine process's decode loop holds a
// slot that a request just freed for the next request to arrive: the hop
// from client through serve to this process takes a few milliseconds
// (about 6 to 8 ms at the median on a busy 2-core host,
// docs/benchmarks.md), and a request that misses the step boundary waits
// a whole decode step (100 ms and more) for the next.
const engineAdmitWait = 10 * time.Millisecond

// modelFDPath names the inherited model descriptor as a path, which
// llama.cpp opens: the file the parent hashed, whatever its name now is.
func modelFDPath() string {
	if runtime.GOOS == "linux" {
		return fmt.Sprintf("/proc/self/fd/%d", runner.ModelFD)
	}
	return fmt.Sprintf("/dev/fd/%d", runner.ModelFD)
}

// config is the llama.cpp configuration of e for the file at path, with
// gpuLayers of it offloaded.
func (e engineLoad) config(path string, gpuLayers int, log *slog.Logger) llamacpp.Config {
	return llamacpp.Config{Path: path, Name: e.Name, SHA256: e.SHA256, Context: e.Context,
		Parallel: e.Parallel, Batch: e.Batch, Queue: e.Queue, QueueTimeout: e.QueueTimeout, Threads: e.Threads,
		GPULayers: gpuLayers, KVType: e.KVType, AdmitWait: e.AdmitWait, Logger: log}
}

// loadModel plans the memory of the model at path and loads it into this
// process.
func (e engineLoad) loadModel(ctx context.Context, log *slog.Logger, path string) (*llamacpp.Model, error) {
	gpuLayers, err := planServe(log, path, serveFit{ctx: e.Context, parallel: e.Parallel, batch: e.Batch,
		gpuLayers: e.GPULayers, kvType: e.KVType, fullGPU: e.FullGPU})
	if err != nil {
		return nil, err
	}
	return llamacpp.Load(ctx, e.config(path, gpuLayers, log))
}

// load loads the model in the engine process, from the descriptor serve
// handed over.
func (e engineLoad) load(ctx context.Context, log *slog.Logger) (runner.Loaded, error) {
	model, err := e.loadModel(ctx, log, modelFDPath())
	if err != nil {
		return runner.Loaded{}, err
	}
	limitGoProcs(log, model)
	return runner.Loaded{Engine: model, CPUThreads: model.CPUThreads(), CPUKernels: llamacpp.CPUKernels().CPUKernels}, nil
}

// newEngineProcessCommand is the engine process: serve starts it, one per
// model, by running its own executable again.
func newEngineProcessCommand(g *globalOptions) *cobra.Command {
	var confine bool
	var addressSpace uint64
	cmd := &cobra.Command{
		Use:    "engine-process",
		Short:  "Run one model's engine for warden serve, which starts it (not for direct use)",
		Hidden: true,
		Args:   cobra.NoArgs,
		// The configuration is serve's business: the engine gets what it
		// needs over its socket and, once confined, could not read it.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEngineProcess(cmd.Context(), g, confine, addressSpace)
		},
	}
	cmd.Flags().BoolVar(&confine, "sandbox", true, "confine the process before it loads anything")
	cmd.Flags().Uint64Var(&addressSpace, "address-space", 0, "RLIMIT_AS in bytes (0: none)")
	return cmd
}

func runEngineProcess(ctx context.Context, g *globalOptions, confine bool, addressSpace uint64) error {
	var st syscall.Stat_t
	if err := syscall.Fstat(runner.SocketFD, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		return errors.New("engine-process is started by warden serve, with a socket on descriptor 4")
	}
	if confine && !sandbox.Confined() {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		p := sandbox.DefaultPolicy(exe, llamacpp.LibraryDirs(), runner.ModelFD)
		p.AddressSpace = addressSpace
		return fmt.Errorf("engine sandbox: %w", sandbox.Enter(p, os.Args, os.Environ()))
	}
	measures := []engine.SandboxMeasure{{Name: "sandbox", Detail: "turned off (--engine-sandbox=false)"}}
	if confine {
		rep, err := sandbox.Finish()
		if err != nil {
			return fmt.Errorf("engine sandbox: %w", err)
		}
		measures = measures[:0]
		for _, m := range rep.Measures {
			measures = append(measures, engine.SandboxMeasure{Name: m.Name, InForce: m.InForce, Detail: m.Detail})
		}
	}
	log, err := g.logger()
	if err != nil {
		return err
	}
	log = log.With("process", "engine")
	// serve drains its requests on a signal and then asks this process to
	// exit; a signal to the whole group must not cut that short.
	signal.Ignore(os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	conn := os.NewFile(runner.SocketFD, "engine-socket")
	return runner.Serve(ctx, conn, runner.ChildOptions{
		Sandbox: measures,
		Log:     log,
		Load: func(ctx context.Context, raw json.RawMessage) (runner.Loaded, error) {
			var e engineLoad
			if err := json.Unmarshal(raw, &e); err != nil {
				return runner.Loaded{}, fmt.Errorf("load configuration: %w", err)
			}
			return e.load(ctx, log)
		},
	})
}

// selfExecutable is what an engine process runs: this very executable,
// even if its file was replaced since serve started.
func selfExecutable() (string, error) {
	if runtime.GOOS == "linux" {
		return "/proc/self/exe", nil
	}
	return os.Executable()
}

// startEngine starts choice's model in an engine process. The Process
// owns choice from then on: it hands its file to every engine process it
// starts and releases it when closed.
func (l *modelLoader) startEngine(ctx context.Context, choice *trust.Choice) (*runner.Process, error) {
	exe, err := selfExecutable()
	if err != nil {
		return nil, err
	}
	e := l.o.engine
	if e.sandbox {
		warnExposedDataDir(l.log, l.dir.Path(), sandboxPolicy())
	}
	load := newEngineLoad(choice, l.o)
	load.AdmitWait = engineAdmitWait
	args := []string{exe, "engine-process", "--log-level", l.g.logLevel, "--log-format", l.g.logFormat,
		fmt.Sprintf("--sandbox=%t", e.sandbox), fmt.Sprintf("--address-space=%d", e.addressSpace)}
	p, err := runner.Start(ctx, runner.Options{
		Name: choice.Name, Path: choice.Path,
		Command: args, Env: runner.Environ(os.Environ()),
		Model: choice.File(), Load: load,
		Recheck: choice.CheckUnchanged, Release: choice.Release,
		MaxCrashes: e.maxCrashes, WaitReady: l.o.queueTimeout,
		NetworkNamespace: e.sandbox,
		OnEvent:          l.recordEngineEvent,
		Log:              l.log,
	})
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", choice.Name, err)
	}
	st := p.Stats().Process
	l.log.Info("engine process", "model", choice.Name, "pid", st.PID, "sandbox", describeSandbox(st.Sandbox))
	return p, nil
}

// sandboxPolicy is what an engine process's sandbox will allow, as this
// process works it out: the same executable, libraries and system paths.
func sandboxPolicy() sandbox.Policy {
	exe, err := os.Executable()
	if err != nil {
		exe = ""
	}
	return sandbox.DefaultPolicy(exe, llamacpp.LibraryDirs(), runner.ModelFD)
}

// warnExposedDataDir warns when the data directory lies beneath a path the
// engine's sandbox lets it read (under /usr/lib, say): there, the keys and
// the audit log would be in the engine's reach after all.
func warnExposedDataDir(log *slog.Logger, dataDir string, p sandbox.Policy) {
	dir, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		dir = dataDir
	}
	for _, allowed := range slices.Concat(p.Read, p.Exec, p.Devices) {
		a, err := filepath.EvalSymlinks(allowed)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(a, dir); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			log.Warn("THE ENGINE SANDBOX CAN READ THE DATA DIRECTORY: it lies beneath a path engine processes may read, so its keys and audit log are within their reach; move it (--data-dir)",
				"data_dir", dir, "readable_path", a)
			return
		}
	}
}

// describeSandbox is one line: the measures in force, then those not.
func describeSandbox(ms []engine.SandboxMeasure) string {
	var on, off string
	for _, m := range ms {
		if m.InForce {
			on += " " + m.Name
		} else {
			off += fmt.Sprintf(" %s (%s)", m.Name, m.Detail)
		}
	}
	if off != "" {
		return fmt.Sprintf("in force:%s; NOT in force:%s", on, off)
	}
	return "in force:" + on
}

// recordEngineEvent writes an engine's crash, restart or giving up into
// the audit log, as a system record.
func (l *modelLoader) recordEngineEvent(ev runner.Event) {
	if l.audit == nil {
		return
	}
	detail := fmt.Sprintf("pid=%d exit=%q lost_requests=%d crashes_in_a_row=%d", ev.PID, ev.Exit, ev.Lost, ev.InARow)
	if ev.Restart > 0 {
		detail += " restarted_after=" + ev.Restart.String()
	}
	if ev.Err != nil {
		detail += fmt.Sprintf(" reason=%q", ev.Err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.audit.Submit(ctx, audit.Record{Kind: audit.KindSystem, Action: ev.Kind, Model: ev.Model, Detail: detail}); err != nil {
		l.log.Error("AUDIT RECORD LOST", "action", ev.Kind, "err", err)
	}
}
