package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-llm/warden/auth"
	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/fit"
	"github.com/warden-llm/warden/engine/llamacpp"
	"github.com/warden-llm/warden/models/trust"
	"github.com/warden-llm/warden/models/volume"
	"github.com/warden-llm/warden/server"
	"github.com/warden-llm/warden/store/audit"
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
	kvTypeArg     string        // --kv-type as given
	kvType        fit.CacheType // parsed from kvTypeArg by validate
	fullGPU       bool
	queue         int
	queueTimeout  time.Duration
	allowUnpinned bool
	reverify      bool
	requireArg    []string             // --models-require as given
	require       []volume.Requirement // parsed from requireArg by validate
	maxBody       int64
	grace         time.Duration
	auth          authOptions
	rateRequests  int
	rateTokens    int
	tlsCert       string
	tlsKey        string
	audit         auditOptions
	metricsArg    string    // --metrics-role as given
	metricsRole   auth.Role // parsed from metricsArg by validate
	docs          docsOptions
	guard         guardOptions
	engine        engineOptions
}

func newServeCommand(g *globalOptions) *cobra.Command {
	return serveCommand(g, &serveOptions{})
}

// serveCommand binds serve's flags to o.
func serveCommand(g *globalOptions, o *serveOptions) *cobra.Command {
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

--embedding-model NAME turns on the document base (/v1/files,
/v1/vector_stores): docbase.db in the data directory, whose chunks and
queries the pinned model NAME embeds, loaded beside --model (or --model
itself if NAME is its name). Without it those endpoints answer 501.

Each model runs in an engine process of its own: this executable started
again, handed the file that was hashed, and sandboxed before it reads it
(Landlock, seccomp, no privileges, no network; --engine-sandbox). If
llama.cpp crashes there, only the requests that process held fail (503),
and it restarts; a model that crashes it --engine-max-crashes times in a
row is unloaded. --engine in-process runs llama.cpp in this process
instead, where a crash stops the server (docs/engine-isolation.md).

Every API call needs a bearer token (a JWT) whose roles allow it; only
/healthz is open. Without --auth-key, Warden trusts its own Ed25519 key,
generated in the data directory on first use, and "warden token issue"
signs with that key. Warden listens on 127.0.0.1 by default; it refuses
an address other machines can reach when authentication is off, and warns
when such an address is served without TLS.`,
		Example: `  warden serve
  warden serve --model ./models/tinyllama.gguf --ctx 4096 --parallel 4
  warden serve --model qwen2.5-7b --embedding-model nomic-embed-text-v1.5
  curl -H "Authorization: Bearer $(warden token issue --sub me --role user)" http://127.0.0.1:8080/v1/models`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, g, *o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.model, "model", "", "model to serve: a models.lock name or a .gguf path (default: the built-in demo model)")
	f.StringVar(&o.host, "host", "127.0.0.1", "address to listen on; beyond loopback only with --auth on")
	f.IntVar(&o.port, "port", 8080, "TCP port to listen on")
	f.IntVar(&o.ctx, "ctx", 0, "context window per request, in tokens (default: the model's, at most 4096)")
	f.IntVar(&o.parallel, "parallel", 1, "requests decoded together; each gets its own --ctx tokens of KV cache")
	f.IntVar(&o.queue, "queue", llamacpp.DefaultQueue, "requests that may wait for a free sequence; more get 429")
	f.DurationVar(&o.queueTimeout, "queue-timeout", llamacpp.DefaultQueueTimeout, "longest a request waits for a free sequence before a 429")
	f.IntVar(&o.batch, "batch", llamacpp.DefaultBatch, "most tokens evaluated in one decode step")
	f.IntVar(&o.threads, "threads", 0, "CPU threads for llama.cpp (default: all cores)")
	f.IntVar(&o.gpuLayers, "gpu-layers", -1, "layers to offload to a GPU when one is available (-1: as many as fit)")
	f.StringVar(&o.kvTypeArg, "kv-type", string(fit.CacheF16), "KV cache type: f16, q8_0 (half the size) or q4_0 (a quarter; both need flash attention)")
	f.BoolVar(&o.fullGPU, "require-full-gpu", false, "refuse to start unless every layer fits on the GPUs")
	f.BoolVar(&o.allowUnpinned, "allow-unpinned", false, "DEVELOPMENT ONLY: load a model that models.lock does not pin")
	f.BoolVar(&o.reverify, "reverify", false, "hash the model in full even if the verified-hash cache knows the file")
	addRequireFlag(f, &o.requireArg)
	f.Int64Var(&o.maxBody, "max-body", server.DefaultMaxBodyBytes, "largest request body accepted, in bytes")
	f.DurationVar(&o.grace, "grace", 30*time.Second, "on SIGINT/SIGTERM, how long running requests may take to finish")
	f.IntVar(&o.rateRequests, "rate-requests", 600, "requests per minute allowed to each token subject (0: no limit)")
	f.IntVar(&o.rateTokens, "rate-tokens", 0, "prompt plus completion tokens per minute allowed to each subject (0: no limit)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate chain: serve HTTPS (with --tls-key)")
	f.StringVar(&o.tlsKey, "tls-key", "", "PEM private key for --tls-cert")
	f.StringVar(&o.metricsArg, "metrics-role", string(auth.RoleAdmin), "role a token needs for GET /metrics: admin, auditor, user, or none for no token")
	o.auth.register(f)
	o.audit.register(f)
	o.docs.register(f)
	o.guard.register(f)
	o.engine.register(f)
	return cmd
}

// validate checks what can be checked before anything is opened or
// loaded, and parses the options that have types of their own (the KV
// cache type, the metrics role, the audit text policy, the trusted key
// specs) into o: that is the one place they are parsed, and everything
// downstream takes the typed values. serve, warden config check and
// reload all run it.
func (o *serveOptions) validate() error {
	if err := auth.CheckListenAddress(o.host, o.auth.enabled); err != nil {
		return err
	}
	switch {
	case (o.tlsCert == "") != (o.tlsKey == ""):
		return fmt.Errorf("--tls-cert and --tls-key go together")
	case o.port < 0 || o.port > 65535:
		return fmt.Errorf("--port %d: want 0 to 65535", o.port)
	case o.ctx < 0 || o.parallel < 1 || o.parallel > 64 || o.batch < 1 || o.queue < 1 || o.queueTimeout <= 0:
		return fmt.Errorf("--ctx must be ≥ 0, --parallel 1 to 64, --batch and --queue ≥ 1, --queue-timeout positive")
	case o.rateRequests < 0 || o.rateTokens < 0 || o.maxBody <= 0 || o.grace < 0:
		return fmt.Errorf("--rate-requests and --rate-tokens must be ≥ 0, --max-body positive, --grace ≥ 0")
	}
	var err error
	if o.metricsRole, err = server.ParseMetricsRole(o.metricsArg); err != nil {
		return fmt.Errorf("--metrics-role: %w", err)
	}
	if o.kvType, err = fit.ParseCacheType(o.kvTypeArg); err != nil {
		return fmt.Errorf("--kv-type: %w", err)
	}
	if o.require, err = volume.ParseRequirements(o.requireArg); err != nil {
		return fmt.Errorf("--models-require (models.require): %w", err)
	}
	if err := o.engine.validate(); err != nil {
		return err
	}
	if err := o.docs.validate(); err != nil {
		return err
	}
	if err := o.guard.parse(); err != nil {
		return err
	}
	if err := o.audit.parse(); err != nil {
		return err
	}
	return o.auth.parse()
}

func runServe(cmd *cobra.Command, g *globalOptions, o serveOptions) error {
	ctx := cmd.Context()
	log, err := g.logger()
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	if !o.auth.enabled {
		log.Warn("AUTHENTICATION IS OFF (--auth=false): anyone on this machine can use every endpoint")
	} else if o.tlsCert == "" && !auth.IsLoopback(o.host) {
		log.Warn("serving beyond loopback without TLS: tokens and prompts cross the network in clear; pass --tls-cert and --tls-key", "host", o.host)
	}
	if o.metricsRole == server.MetricsOpen && !auth.IsLoopback(o.host) {
		log.Warn("METRICS ARE OPEN (--metrics-role none) beyond loopback: anyone who reaches the port sees the models, their load and the traffic", "host", o.host)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	dir, err := g.openDataDir()
	if err != nil {
		return err
	}
	// The audit log opens first: nothing is served, or even loaded,
	// unless it can be recorded.
	auditLog, err := o.audit.open(ctx, dir, log)
	if err != nil {
		return err
	}
	defer closeAudit(auditLog, log)
	loader := &modelLoader{lockPath: g.lock, o: o, g: g, dir: dir, log: log, audit: auditLog}
	model, choice, err := loader.load(ctx, o.model, o.allowUnpinned)
	if err != nil {
		return err
	}
	defer model.Close()
	limitGoProcs(log, model)
	models := []engine.Generator{model}
	// The embedding model loads beside the chat model, through the same
	// lockfile and fit checks; the same name shares the one instance.
	embedModel, err := o.docs.loadModel(ctx, loader, model)
	if err != nil {
		return err
	}
	if embedModel != nil && embedModel != model {
		defer embedModel.Close()
		models = append(models, embedModel)
	}
	// Opened before serving and closed (deferred) only after srv.Close
	// below: by then the HTTP server has drained and the models, which
	// background indexing holds, are unloaded.
	docs, err := o.docs.open(ctx, dir, embedModel, log)
	if err != nil {
		return err
	}
	if docs.DB != nil {
		defer closeDocs(docs.DB, log)
	}

	// The hashes that stand in for unknown client values (a model name
	// nobody serves) are keyed from the audit key: stable across restarts,
	// and not reversible by trying names without the key.
	auditKey, err := o.audit.key(dir)
	if err != nil {
		return err
	}

	var embedInfo *engine.ModelInfo
	if embedModel != nil {
		info := embedModel.Info()
		embedInfo = &info
	}
	logGuard(log, o.guard.parsed)
	recordStart(ctx, auditLog, choice, embedInfo, o.auth.enabled, log)
	go purgeEvery(ctx, auditLog, o.audit.retention, log)

	cfg := server.Config{
		Audit:             auditLog,
		AuditFailOpen:     o.audit.failOpen,
		Models:            models,
		MaxBodyBytes:      o.maxBody,
		Version:           version,
		CPUKernels:        cpuKernelsOf(model),
		Logger:            log,
		RequestsPerMinute: o.rateRequests,
		TokensPerMinute:   o.rateTokens,
		Settings:          settings(cmd, g.cfg),
		Loader:            loader,
		MetricsRole:       o.metricsRole,
		RecordKey:         server.DeriveRecordKey(auditKey),
		Docs:              docs,
		Guard:             o.guard.parsed,
	}
	revs, err := dir.OpenRevocations(ctx, o.audit.reasonRedactor())
	if err != nil {
		return err
	}
	defer revs.Close()
	cfg.Revocations = revs
	sweepCtx, stopSweep := context.WithCancel(ctx)
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		auditRevocations(sweepCtx, revs, auditLog, revocationSweep, log)
	}()
	defer func() { stopSweep(); <-swept }() // before revs and the audit log close
	jwks := newJWKSSources(ctx)
	if o.auth.enabled {
		if cfg.Auth, err = o.auth.verifier(dir, revs, jwks); err != nil {
			return err
		}
	}
	cfg.Reloader = &configReloader{jwks: jwks, g: g, started: cmd, dir: dir, revs: revs}
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	go reloadOnHangup(ctx, notifyHangup(), srv, auditLog, log)
	ln, err := net.Listen("tcp", net.JoinHostPort(o.host, strconv.Itoa(o.port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	scheme := "http"
	if o.tlsCert != "" {
		scheme = "https"
	}
	log.Info("ready", "addr", scheme+"://"+ln.Addr().String(), "model", choice.Name, "auth", o.auth.enabled)
	printTryIt(scheme, ln.Addr().String(), choice.Name, o.auth.enabled && o.auth.usesLocalKey())
	err = srv.Serve(ctx, ln, server.TLS{CertFile: o.tlsCert, KeyFile: o.tlsKey}, o.grace)
	// Models an admin loaded are freed here; the first one by its defer.
	closeCtx, cancel := context.WithTimeout(context.Background(), o.grace)
	defer cancel()
	srv.Close(closeCtx)
	return err
}

// cpuKernelsOf says which CPU kernels m runs on: those its engine
// process loaded, or this process's.
func cpuKernelsOf(m loadedModel) engine.CPUKernels {
	if p, ok := m.(interface{ CPUKernels() engine.CPUKernels }); ok {
		return p.CPUKernels()
	}
	return llamacpp.CPUKernels().CPUKernels
}

// printTryIt shows how to call the server that just started. With the
// local signing key, the token command needs no options beyond the data
// directory's.
func printTryIt(scheme, addr, model string, localKey bool) {
	token := ""
	if localKey {
		token = "  TOKEN=$(warden token issue --sub me --role user)   # add the same --data-dir/--config as serve\n"
	}
	fmt.Fprintf(os.Stderr, "\nWarden is serving %q. Try:\n\n%s  curl -s %s://%s/v1/chat/completions -H \"Authorization: Bearer $TOKEN\" \\\n"+
		"    -H 'Content-Type: application/json' \\\n"+
		"    -d '{\"model\": %q, \"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}], \"max_tokens\": 32}'\n\n",
		model, token, scheme, addr, model)
}

// settings is the effective configuration GET /admin/config shows, with
// each value's source. Settings name files, never secrets themselves.
func settings(cmd *cobra.Command, cfg *config) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, e := range cfg.effective(cmd) {
		out[e.Key] = map[string]string{"value": e.Value, "source": e.Source}
	}
	return out
}

// recordStart writes the server's start into the audit log, with what an
// auditor needs to know about it: an unpinned model, auth turned off, and
// the model that reads every uploaded document (embed; nil: none).
func recordStart(ctx context.Context, l *audit.Log, choice *trust.Choice, embed *engine.ModelInfo, authOn bool, log *slog.Logger) {
	detail := fmt.Sprintf("version=%s model=%s sha256=%s unpinned=%t auth=%t", version, choice.Name, choice.SHA256, choice.Unpinned, authOn)
	if embed != nil {
		detail += fmt.Sprintf(" embedding_model=%s embedding_sha256=%s", embed.Name, embed.SHA256)
	}
	err := l.Submit(ctx, audit.Record{Kind: audit.KindSystem, Action: "start", Model: choice.Name, ModelSHA256: choice.SHA256, Detail: detail})
	if err != nil {
		log.Error("AUDIT RECORD LOST", "action", "start", "err", err)
	}
}

// closeAudit writes every queued record before the process exits.
func closeAudit(l *audit.Log, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = l.Submit(ctx, audit.Record{Kind: audit.KindSystem, Action: "stop"})
	if err := l.Close(ctx); err != nil {
		log.Error("audit log: records may be lost at shutdown", "err", err)
	}
}
