package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/llamacpp"
)

type benchOverheadOptions struct {
	model     string // GGUF file, loaded here for the engine's side
	ctx       int
	url       string
	token     string
	name      string // the model's name on the server
	prompt    string
	maxTokens int
	rounds    int
	json      bool
}

// overheadReport compares one stream through the engine alone with one
// stream through the server, by medians over alternating rounds.
type overheadReport struct {
	Rounds             int       `json:"rounds"`
	EngineDecode       []float64 `json:"engine_decode_tok_per_s"`
	HTTPDecode         []float64 `json:"http_decode_tok_per_s"`
	EngineDecodeMedian float64   `json:"engine_decode_median"`
	HTTPDecodeMedian   float64   `json:"http_decode_median"`
	EngineTTFTMedian   float64   `json:"engine_ttft_median_s"`
	HTTPTTFTMedian     float64   `json:"http_ttft_median_s"`
	DecodeOverheadPct  float64   `json:"decode_overhead_pct"` // how much slower the HTTP stream decodes
}

func newBenchOverheadCommand(g *globalOptions) *cobra.Command {
	var o benchOverheadOptions
	cmd := &cobra.Command{
		Use:   "overhead --model FILE --name NAME",
		Short: "Compare one stream through the engine alone with one through a running server",
		Long: `Loads --model here and alternates, for --rounds rounds, one greedy
generation through the engine alone with one streaming completion of the
same prompt and length through the server at --url (which serves the same
file as --name). Alternating puts both sides under the same machine load;
medians keep one disturbed round from deciding. The difference in decode
speed is what HTTP, authentication, auditing, metrics and scheduling cost
a single stream. Run it against an otherwise idle server.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := runBenchOverhead(cmd.Context(), g, o)
			if err != nil {
				return err
			}
			return printOverheadReport(cmd.OutOrStdout(), rep, o.json)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.model, "model", "", "GGUF file the server serves (required)")
	f.StringVar(&o.name, "name", "", "the model's name on the server (required)")
	f.IntVar(&o.ctx, "ctx", 512, "context length for the engine's side, as the server's --ctx")
	f.StringVar(&o.url, "url", "http://127.0.0.1:8080", "server base URL")
	f.StringVar(&o.token, "token", "", "bearer token with role user (default $WARDEN_TOKEN)")
	f.StringVar(&o.prompt, "prompt", "Once upon a time, the cat sat on the mat and", "prompt text")
	f.IntVar(&o.maxTokens, "max-tokens", 64, "tokens generated per request")
	f.IntVar(&o.rounds, "rounds", 7, "measured rounds, each one engine run and one HTTP request (after one warm-up round)")
	f.BoolVar(&o.json, "json", false, "print JSON instead of text")
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagRequired("name")
	return cmd
}

func runBenchOverhead(ctx context.Context, g *globalOptions, o benchOverheadOptions) (overheadReport, error) {
	if o.rounds < 1 || o.maxTokens < 2 {
		return overheadReport{}, fmt.Errorf("need --rounds ≥ 1 and --max-tokens ≥ 2")
	}
	o.token = cmp.Or(o.token, os.Getenv("WARDEN_TOKEN"))
	log, err := g.logger()
	if err != nil {
		return overheadReport{}, err
	}
	model, err := llamacpp.Load(ctx, llamacpp.Config{Path: o.model, Context: o.ctx, Logger: log})
	if err != nil {
		return overheadReport{}, err
	}
	defer model.Close()
	limitGoProcs(log, model) // as serve does
	url := strings.TrimSuffix(o.url, "/") + "/v1/completions"
	httpOpts := benchHTTPOptions{model: o.name, prompt: o.prompt, maxTokens: o.maxTokens}
	run := runID(time.Now())

	rep := overheadReport{Rounds: o.rounds}
	var engineTTFT, httpTTFT []float64
	for i := 0; i <= o.rounds; i++ {
		// The same unique prompt on both sides, so neither reuses a cache.
		eng, err := timeGenerations(ctx, model, []engine.Request{{
			Prompt: fmt.Sprintf("%s-e-%d %s", run, i, o.prompt), MaxTokens: o.maxTokens, IgnoreEOS: true,
		}})
		if err != nil {
			return overheadReport{}, fmt.Errorf("engine round %d: %w", i, err)
		}
		fig := streamOnce(ctx, url, o.token, requestBody(httpOpts, run, 0, i))
		if fig.err != nil {
			return overheadReport{}, fmt.Errorf("HTTP round %d: %w", i, fig.err)
		}
		if fig.tokens != o.maxTokens || fig.decode <= 0 {
			return overheadReport{}, fmt.Errorf("HTTP round %d: %d tokens; the server must honour ignore_eos and max_tokens", i, fig.tokens)
		}
		if i == 0 {
			continue // warm-up
		}
		rep.EngineDecode = append(rep.EngineDecode, eng.DecodeTokPerS)
		rep.HTTPDecode = append(rep.HTTPDecode, float64(fig.tokens-1)/fig.decode.Seconds())
		engineTTFT = append(engineTTFT, eng.TimeToFirstTok)
		httpTTFT = append(httpTTFT, fig.ttft.Seconds())
	}
	rep.EngineDecodeMedian = median(rep.EngineDecode)
	rep.HTTPDecodeMedian = median(rep.HTTPDecode)
	rep.EngineTTFTMedian = median(engineTTFT)
	rep.HTTPTTFTMedian = median(httpTTFT)
	rep.DecodeOverheadPct = 100 * (1 - rep.HTTPDecodeMedian/rep.EngineDecodeMedian)
	return rep, nil
}

func median(values []float64) float64 {
	s := slices.Sorted(slices.Values(values))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printOverheadReport(w io.Writer, r overheadReport, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(r)
	}
	_, err := fmt.Fprintf(w, "one stream, median of %d alternating rounds: engine %.2f tok/s, HTTP %.2f tok/s (%.1f %% overhead) | ttft engine %.3fs, HTTP %.3fs\n",
		r.Rounds, r.EngineDecodeMedian, r.HTTPDecodeMedian, r.DecodeOverheadPct, r.EngineTTFTMedian, r.HTTPTTFTMedian)
	return err
}
