package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/llamacpp"
)

func newBenchCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Warden's speed",
	}
	cmd.AddCommand(newBenchEngineCommand(g), newBenchHTTPCommand(), newBenchOverheadCommand(g))
	return cmd
}

type benchEngineOptions struct {
	model     string
	prompt    int
	gen       int
	runs      int
	threads   int
	gpuLayers int
	streams   int
	ctx       int
	json      bool
}

// engineFigures is one run's measurement: of one generation, or of
// several started together, when the prompt and decode figures are their
// sums over the time the whole batch took.
type engineFigures struct {
	Streams        int     `json:"streams"`
	PromptTokens   int     `json:"prompt_tokens"`
	PromptTokPerS  float64 `json:"prompt_tok_per_s"`
	DecodeTokens   int     `json:"decode_tokens"`
	DecodeTokPerS  float64 `json:"decode_tok_per_s"`
	TimeToFirstTok float64 `json:"ttft_s"`
}

func newBenchEngineCommand(g *globalOptions) *cobra.Command {
	var o benchEngineOptions
	cmd := &cobra.Command{
		Use:   "engine --model FILE",
		Short: "Measure prompt and decode speed of the engine itself, without HTTP",
		Long: `Loads a GGUF file directly (no lockfile check: this is a local measuring
tool) and runs greedy generations of a fixed length, ignoring end-of-text,
reporting prompt-processing and decode tokens per second. The first run
warms caches and is not counted.

With --streams N, each run starts N generations at once, as N clients of
a server with N parallel sequences would, and reports their summed speeds:
this is what batching does for throughput without HTTP in the way.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchEngine(cmd.Context(), g, o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.model, "model", "", "GGUF file to measure (required)")
	f.IntVar(&o.prompt, "prompt-tokens", 128, "approximate prompt length in tokens")
	f.IntVar(&o.gen, "gen-tokens", 64, "tokens to generate per run")
	f.IntVar(&o.runs, "runs", 3, "measured runs (after one warm-up)")
	f.IntVar(&o.threads, "threads", 0, "CPU threads (default: all cores)")
	f.IntVar(&o.gpuLayers, "gpu-layers", -1, "layers to offload to a GPU when one is available (-1: all; 0: CPU only)")
	f.IntVar(&o.ctx, "ctx", 0, "context length per sequence, as serve's --ctx (default: what the prompt and generation need)")
	f.IntVar(&o.streams, "streams", 1, "generations run together in each run, each in its own sequence")
	f.BoolVar(&o.json, "json", false, "print JSON instead of text")
	cmd.MarkFlagRequired("model")
	return cmd
}

func runBenchEngine(ctx context.Context, g *globalOptions, o benchEngineOptions, out io.Writer) error {
	if o.streams < 1 || o.gen < 2 || o.runs < 1 {
		return fmt.Errorf("need --streams ≥ 1, --gen-tokens ≥ 2 and --runs ≥ 1")
	}
	log, err := g.logger()
	if err != nil {
		return err
	}
	if o.ctx == 0 {
		o.ctx = o.prompt*2 + o.gen + 64
	}
	model, err := llamacpp.Load(ctx, llamacpp.Config{
		Path:      o.model,
		Parallel:  o.streams,
		Context:   o.ctx,
		Threads:   o.threads,
		GPULayers: o.gpuLayers,
		Logger:    log,
	})
	if err != nil {
		return err
	}
	defer model.Close()
	limitGoProcs(log, model) // as serve does, so that the figures compare

	// Words from the demo vocabulary, so most are single tokens.
	prompt := strings.TrimSpace(strings.Repeat("the cat sat on the mat and ", o.prompt/8+1))
	var runs []engineFigures
	for i := 0; i <= o.runs; i++ {
		// A different first word for every generation, so none reuses the
		// KV cache another left: each evaluates its whole prompt.
		reqs := make([]engine.Request, o.streams)
		for j := range reqs {
			reqs[j] = engine.Request{Prompt: fmt.Sprint(i*o.streams+j, " ", prompt), MaxTokens: o.gen, IgnoreEOS: true}
		}
		fig, err := timeGenerations(ctx, model, reqs)
		if err != nil {
			return err
		}
		if i > 0 {
			runs = append(runs, fig)
		}
	}
	best := runs[0]
	for _, r := range runs[1:] {
		if r.DecodeTokPerS > best.DecodeTokPerS {
			best = r
		}
	}
	if o.json {
		return json.NewEncoder(out).Encode(map[string]any{"model": o.model, "best": best, "runs": runs})
	}
	fmt.Fprintf(out, "model %s, %d stream(s) per run\n", o.model, o.streams)
	for i, r := range runs {
		fmt.Fprintf(out, "run %d: prompt %4d tok %8.1f tok/s | decode %4d tok %7.2f tok/s | ttft %.3fs\n",
			i+1, r.PromptTokens, r.PromptTokPerS, r.DecodeTokens, r.DecodeTokPerS, r.TimeToFirstTok)
	}
	fmt.Fprintf(out, "best: prompt %.1f tok/s, decode %.2f tok/s\n", best.PromptTokPerS, best.DecodeTokPerS)
	return nil
}

// timeGenerations runs reqs together, each once. Prompt speed counts until
// the last first token; decode speed counts the tokens after each first
// one, over the time from the last first token to the end.
func timeGenerations(ctx context.Context, m engine.Generator, reqs []engine.Request) (engineFigures, error) {
	type outcome struct {
		res   engine.Result
		first time.Time
		err   error
	}
	outcomes := make([]outcome, len(reqs))
	start := time.Now()
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Go(func() {
			o := &outcomes[i]
			o.res, o.err = m.Generate(ctx, req, func(string) error {
				if o.first.IsZero() {
					o.first = time.Now()
				}
				return nil
			})
		})
	}
	wg.Wait()
	end := time.Now()
	fig := engineFigures{Streams: len(reqs)}
	var lastFirst time.Time
	for _, o := range outcomes {
		if o.err != nil {
			return engineFigures{}, o.err
		}
		if o.first.IsZero() || o.res.CompletionTokens < 2 {
			return engineFigures{}, fmt.Errorf("generation produced %d tokens; need at least 2 to measure", o.res.CompletionTokens)
		}
		if o.first.After(lastFirst) {
			lastFirst = o.first
		}
		fig.PromptTokens += o.res.PromptTokens
		fig.DecodeTokens += o.res.CompletionTokens - 1
	}
	fig.TimeToFirstTok = lastFirst.Sub(start).Seconds()
	fig.PromptTokPerS = float64(fig.PromptTokens) / fig.TimeToFirstTok
	fig.DecodeTokPerS = float64(fig.DecodeTokens) / end.Sub(lastFirst).Seconds()
	return fig, nil
}
