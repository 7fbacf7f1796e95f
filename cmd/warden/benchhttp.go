package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
)

type benchHTTPOptions struct {
	url       string
	token     string
	model     string
	clients   int
	requests  int
	maxTokens int
	prompt    string
	json      bool
	wait      time.Duration
	same      bool
}

// streamFigures is one streamed request as a client saw it.
type streamFigures struct {
	ttft   time.Duration
	decode time.Duration // first token to last
	tokens int
	err    error
}

// httpReport summarises a benchmark run.
type httpReport struct {
	Clients           int     `json:"clients"`
	Requests          int     `json:"requests"`
	Errors            int     `json:"errors"`
	CompletionTokens  int     `json:"completion_tokens"`
	WallSeconds       float64 `json:"wall_s"`
	AggregateTokPerS  float64 `json:"aggregate_tok_per_s"`
	PerStreamTokPerS  float64 `json:"per_stream_decode_tok_per_s"` // mean over requests
	TTFTP50Seconds    float64 `json:"ttft_p50_s"`
	TTFTP95Seconds    float64 `json:"ttft_p95_s"`
	FirstErrorMessage string  `json:"first_error,omitempty"`
}

func newBenchHTTPCommand() *cobra.Command {
	var o benchHTTPOptions
	cmd := &cobra.Command{
		Use:   "http --model NAME",
		Short: "Load a running server with concurrent streaming clients",
		Long: `Runs --clients concurrent clients against a running Warden (or any
OpenAI-compatible server that honours llama.cpp's ignore_eos), each
sending --requests streaming completions one after another, every one
generating exactly --max-tokens tokens. Reports aggregate decode tokens per
second (all completion tokens over the wall time), mean per-stream decode
speed (after the first token), time to first token p50/p95, and errors.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := runBenchHTTP(cmd.Context(), o)
			if err != nil {
				return err
			}
			return printHTTPReport(cmd.OutOrStdout(), rep, o.json)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "http://127.0.0.1:8080", "server base URL")
	f.StringVar(&o.token, "token", os.Getenv("WARDEN_TOKEN"), "bearer token with role user (default $WARDEN_TOKEN)")
	f.StringVar(&o.model, "model", "", "model name to request (required)")
	f.IntVar(&o.clients, "clients", 1, "concurrent clients")
	f.IntVar(&o.requests, "requests", 3, "requests per client")
	f.IntVar(&o.maxTokens, "max-tokens", 64, "tokens generated per request")
	f.StringVar(&o.prompt, "prompt", "Once upon a time, the cat sat on the mat and", "prompt text")
	f.BoolVar(&o.json, "json", false, "print JSON instead of text")
	f.BoolVar(&o.same, "same-prompt", false, "send the identical prompt every time, so the server can reuse its KV cache (default: a unique first word per request)")
	f.DurationVar(&o.wait, "wait", 0, "first wait up to this long for the server's /healthz to answer")
	cmd.MarkFlagRequired("model")
	return cmd
}

// waitHealthy polls /healthz until it answers 200 or the time is up.
func waitHealthy(ctx context.Context, base string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	url := strings.TrimSuffix(base, "/") + "/healthz"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer within %s", url, limit)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func runBenchHTTP(ctx context.Context, o benchHTTPOptions) (httpReport, error) {
	if o.clients < 1 || o.requests < 1 || o.maxTokens < 2 {
		return httpReport{}, fmt.Errorf("need --clients ≥ 1, --requests ≥ 1, --max-tokens ≥ 2")
	}
	if o.wait > 0 {
		if err := waitHealthy(ctx, o.url, o.wait); err != nil {
			return httpReport{}, err
		}
	}
	url := strings.TrimSuffix(o.url, "/") + "/v1/completions"
	results := make(chan streamFigures, o.clients*o.requests)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range o.requests {
				prompt := o.prompt
				if !o.same {
					// A unique first word defeats prefix reuse, so every
					// request pays for its whole prompt.
					prompt = fmt.Sprintf("%d-%d %s", c, i, o.prompt)
				}
				body, err := json.Marshal(map[string]any{
					"model": o.model, "prompt": prompt, "max_tokens": o.maxTokens, "stream": true,
					"stream_options": map[string]bool{"include_usage": true}, "ignore_eos": true, "temperature": 0,
				})
				if err != nil {
					results <- streamFigures{err: err}
					continue
				}
				results <- streamOnce(ctx, url, o.token, body)
			}
		}()
	}
	wg.Wait()
	close(results)
	return summarise(results, o.clients, time.Since(start)), nil
}

// streamOnce sends one streaming completion and times its chunks.
func streamOnce(ctx context.Context, url, token string, body []byte) streamFigures {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return streamFigures{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return streamFigures{err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return streamFigures{err: fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg)}
	}
	var fig streamFigures
	var first, last time.Time
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var chunk struct {
			Choices []struct {
				Text string `json:"text"`
			} `json:"choices"`
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			return streamFigures{err: fmt.Errorf("bad chunk %q: %w", data, err)}
		}
		switch {
		case chunk.Error != nil:
			return streamFigures{err: fmt.Errorf("stream error: %s", chunk.Error.Message)}
		case chunk.Usage != nil:
			fig.tokens = chunk.Usage.CompletionTokens
		case len(chunk.Choices) > 0 && chunk.Choices[0].Text != "":
			if first.IsZero() {
				first = time.Now()
			}
			last = time.Now()
		}
	}
	if err := sc.Err(); err != nil {
		return streamFigures{err: err}
	}
	if first.IsZero() || fig.tokens == 0 {
		return streamFigures{err: fmt.Errorf("stream ended without text or usage")}
	}
	fig.ttft, fig.decode = first.Sub(start), last.Sub(first)
	return fig
}

func summarise(results <-chan streamFigures, clients int, wall time.Duration) httpReport {
	rep := httpReport{Clients: clients, WallSeconds: wall.Seconds()}
	var ttfts []float64
	var perStream float64
	for r := range results {
		rep.Requests++
		if r.err != nil {
			rep.Errors++
			if rep.FirstErrorMessage == "" {
				rep.FirstErrorMessage = r.err.Error()
			}
			continue
		}
		rep.CompletionTokens += r.tokens
		ttfts = append(ttfts, r.ttft.Seconds())
		if r.decode > 0 {
			perStream += float64(r.tokens-1) / r.decode.Seconds()
		}
	}
	if ok := len(ttfts); ok > 0 {
		slices.Sort(ttfts)
		rep.TTFTP50Seconds = percentile(ttfts, 0.50)
		rep.TTFTP95Seconds = percentile(ttfts, 0.95)
		rep.PerStreamTokPerS = perStream / float64(ok)
		rep.AggregateTokPerS = float64(rep.CompletionTokens) / wall.Seconds()
	}
	return rep
}

// percentile of sorted values, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	i := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func printHTTPReport(w io.Writer, r httpReport, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(r)
	}
	_, err := fmt.Fprintf(w, "clients %d: %d requests, %d errors | aggregate %.2f tok/s | per stream %.2f tok/s | ttft p50 %.3fs p95 %.3fs\n",
		r.Clients, r.Requests, r.Errors, r.AggregateTokPerS, r.PerStreamTokPerS, r.TTFTP50Seconds, r.TTFTP95Seconds)
	if err == nil && r.FirstErrorMessage != "" {
		_, err = fmt.Fprintf(w, "first error: %s\n", r.FirstErrorMessage)
	}
	return err
}
