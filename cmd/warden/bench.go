package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
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
	cmd.AddCommand(newBenchEngineCommand(g), newBenchHTTPCommand())
	return cmd
}

type benchEngineOptions struct {
	model     string
	prompt    int
	gen       int
	runs      int
	threads   int
	gpuLayers int
	json      bool
}

// engineFigures is one run's measurement.
type engineFigures struct {
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
warms caches and is not counted.`,
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
	f.BoolVar(&o.json, "json", false, "print JSON instead of text")
	cmd.MarkFlagRequired("model")
	return cmd
}

func runBenchEngine(ctx context.Context, g *globalOptions, o benchEngineOptions, out io.Writer) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	model, err := llamacpp.Load(ctx, llamacpp.Config{
		Path:      o.model,
		Context:   o.prompt*2 + o.gen + 64,
		Threads:   o.threads,
		GPULayers: o.gpuLayers,
		Logger:    log,
	})
	if err != nil {
		return err
	}
	defer model.Close()

	// Words from the demo vocabulary, so most are single tokens.
	prompt := strings.TrimSpace(strings.Repeat("the cat sat on the mat and ", o.prompt/8+1))
	var runs []engineFigures
	for i := 0; i <= o.runs; i++ {
		// A different first word each run, so no run reuses the KV cache
		// the previous one left: every run evaluates its whole prompt.
		req := engine.Request{Prompt: fmt.Sprint(i, " ", prompt), MaxTokens: o.gen, IgnoreEOS: true}
		fig, err := timeGeneration(ctx, model, req)
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
	fmt.Fprintf(out, "model %s\n", o.model)
	for i, r := range runs {
		fmt.Fprintf(out, "run %d: prompt %4d tok %8.1f tok/s | decode %4d tok %7.2f tok/s | ttft %.3fs\n",
			i+1, r.PromptTokens, r.PromptTokPerS, r.DecodeTokens, r.DecodeTokPerS, r.TimeToFirstTok)
	}
	fmt.Fprintf(out, "best: prompt %.1f tok/s, decode %.2f tok/s\n", best.PromptTokPerS, best.DecodeTokPerS)
	return nil
}

// timeGeneration runs req once. Prompt speed counts until the first token;
// decode speed counts the tokens after it.
func timeGeneration(ctx context.Context, m engine.Generator, req engine.Request) (engineFigures, error) {
	start := time.Now()
	var first time.Time
	res, err := m.Generate(ctx, req, func(string) error {
		if first.IsZero() {
			first = time.Now()
		}
		return nil
	})
	if err != nil {
		return engineFigures{}, err
	}
	end := time.Now()
	if first.IsZero() || res.CompletionTokens < 2 {
		return engineFigures{}, fmt.Errorf("generation produced %d tokens; need at least 2 to measure", res.CompletionTokens)
	}
	ttft := first.Sub(start).Seconds()
	return engineFigures{
		PromptTokens:   res.PromptTokens,
		PromptTokPerS:  float64(res.PromptTokens) / ttft,
		DecodeTokens:   res.CompletionTokens - 1,
		DecodeTokPerS:  float64(res.CompletionTokens-1) / end.Sub(first).Seconds(),
		TimeToFirstTok: ttft,
	}, nil
}
