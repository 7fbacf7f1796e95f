package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-llm/warden/auth"
	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/llamacpp"
	"github.com/warden-llm/warden/server"
)

type serveOptions struct {
	model         string
	host          string
	port          int
	ctx           int
	parallel      int
	batch         int
	threads       int
	gpuLayers     int
	queue         int
	queueTimeout  time.Duration
	allowUnpinned bool
	maxBody       int64
	grace         time.Duration
}

func newServeCommand(g *globalOptions) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve a pinned model over an OpenAI-compatible HTTP API",
		Long: `Serve loads one model and answers OpenAI-style requests on
/v1/chat/completions, /v1/completions and /v1/models (plus /healthz).

Without --model it serves the built-in demo model: a tiny random-weight
model that Warden writes into its data directory on first use, byte for byte
the file pinned as "warden-demo" in models.lock. Its answers are gibberish;
it exists to show the whole path working.

--model takes a lockfile name (the file is looked up in the data directory's
models/ folder) or a path to a .gguf file. Either way the file's SHA-256 and
size must match its models.lock entry, or Warden refuses to load it.

Warden listens on 127.0.0.1 only: it has no authentication yet, so it
refuses addresses other machines could reach.`,
		Example: `  warden serve
  warden serve --model ./models/tinyllama.gguf --ctx 4096 --parallel 4
  curl http://127.0.0.1:8080/v1/models`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.model, "model", "", "model to serve: a models.lock name or a .gguf path (default: the built-in demo model)")
	f.StringVar(&o.host, "host", "127.0.0.1", "address to listen on (loopback only, until authentication exists)")
	f.IntVar(&o.port, "port", 8080, "TCP port to listen on")
	f.IntVar(&o.ctx, "ctx", 0, "context window per request, in tokens (default: the model's, at most 4096)")
	f.IntVar(&o.parallel, "parallel", 1, "requests decoded together; each gets its own --ctx tokens of KV cache")
	f.IntVar(&o.queue, "queue", llamacpp.DefaultQueue, "requests that may wait for a free sequence; more get 429")
	f.DurationVar(&o.queueTimeout, "queue-timeout", llamacpp.DefaultQueueTimeout, "longest a request waits for a free sequence before a 429")
	f.IntVar(&o.batch, "batch", llamacpp.DefaultBatch, "most tokens evaluated in one decode step")
	f.IntVar(&o.threads, "threads", 0, "CPU threads for llama.cpp (default: all cores)")
	f.IntVar(&o.gpuLayers, "gpu-layers", -1, "layers to offload to a GPU when one is available (-1: all)")
	f.BoolVar(&o.allowUnpinned, "allow-unpinned", false, "DEVELOPMENT ONLY: load a model that models.lock does not pin")
	f.Int64Var(&o.maxBody, "max-body", server.DefaultMaxBodyBytes, "largest request body accepted, in bytes")
	f.DurationVar(&o.grace, "grace", 30*time.Second, "on SIGINT/SIGTERM, how long running requests may take to finish")
	return cmd
}

func runServe(ctx context.Context, g *globalOptions, o serveOptions) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	if err := auth.CheckListenAddress(o.host, false); err != nil {
		return err
	}
	switch {
	case o.port < 0 || o.port > 65535:
		return fmt.Errorf("--port %d: want 0 to 65535", o.port)
	case o.ctx < 0 || o.parallel < 1 || o.parallel > 64 || o.batch < 1 || o.queue < 1 || o.queueTimeout <= 0:
		return fmt.Errorf("--ctx must be ≥ 0, --parallel 1 to 64, --batch and --queue ≥ 1, --queue-timeout positive")
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	dir, err := g.openDataDir()
	if err != nil {
		return err
	}
	choice, err := chooseModel(o.model, g.lock, dir, o.allowUnpinned, log)
	if err != nil {
		return err
	}
	model, err := llamacpp.Load(ctx, llamacpp.Config{
		Path:         choice.path,
		Name:         choice.name,
		SHA256:       choice.sha256,
		Context:      o.ctx,
		Parallel:     o.parallel,
		Batch:        o.batch,
		Queue:        o.queue,
		QueueTimeout: o.queueTimeout,
		Threads:      o.threads,
		GPULayers:    o.gpuLayers,
		Logger:       log,
	})
	if err != nil {
		return err
	}
	defer model.Close()

	srv, err := server.New(server.Config{
		Models:       []engine.Generator{model},
		MaxBodyBytes: o.maxBody,
		Version:      version,
		Logger:       log,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(o.host, strconv.Itoa(o.port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("ready", "addr", "http://"+ln.Addr().String(), "model", choice.name)
	fmt.Fprintf(os.Stderr, "\nWarden is serving %q. Try:\n\n  curl -s http://%s/v1/chat/completions -H 'Content-Type: application/json' \\\n"+
		"    -d '{\"model\": %q, \"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}], \"max_tokens\": 32}'\n\n",
		choice.name, ln.Addr(), choice.name)
	return srv.Serve(ctx, ln, o.grace)
}
