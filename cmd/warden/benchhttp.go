package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
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
	ramp      time.Duration // client c starts c/clients of it late
	duration  time.Duration // steady state: measure this long after the ramp
	save      string        // write the report as JSON to this file too
	baseline  string        // a report saved earlier, to compare with
}

// streamFigures is one streamed request as a client saw it.
type streamFigures struct {
	start  time.Time
	ttft   time.Duration
	decode time.Duration // first token to last
	tokens int           // completion tokens
	prompt int           // prompt tokens
	chunks []time.Time   // arrival of each chunk that carried text
	err    error
}

// httpReport summarises a benchmark run.
type httpReport struct {
	Mode              string  `json:"mode"` // "burst", "ramped" (--ramp alone) or "steady" (--duration)
	Clients           int     `json:"clients"`
	RampSeconds       float64 `json:"ramp_s"`
	Requests          int     `json:"requests"`
	Errors            int     `json:"errors"`
	PromptTokensMean  float64 `json:"prompt_tokens_mean"`
	CompletionMean    float64 `json:"completion_tokens_mean"` // per request; below --max-tokens where a server stops at EOS
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
speed (after the first token), time to first token p50/p95, and errors.

By default all clients start at once (a burst: the last prompt waits for
all the others). With --duration, the run measures a steady state instead:
client c starts c/clients of --ramp late, every client sends requests back
to back until the ramp and --duration have passed, and the figures cover
only the window of --duration after the ramp: the requests that started in
it, and the tokens that arrived in it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// A bad baseline is found before the run, not after it.
			var base httpReport
			if o.baseline != "" {
				var err error
				if base, err = loadHTTPReport(o.baseline); err != nil {
					return err
				}
			}
			rep, err := runBenchHTTP(cmd.Context(), o)
			if err != nil {
				return err
			}
			if err := printHTTPReport(cmd.OutOrStdout(), rep, o.json); err != nil {
				return err
			}
			if o.save != "" {
				if err := saveHTTPReport(o.save, rep); err != nil {
					return err
				}
			}
			if o.baseline == "" {
				return nil
			}
			return printComparison(cmd.OutOrStdout(), rep, base, o.baseline)
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
	f.StringVar(&o.save, "save", "", "also write the report as JSON to this file (for a later --baseline)")
	f.StringVar(&o.baseline, "baseline", "", "compare with a report written by --save, e.g. of one client")
	f.DurationVar(&o.ramp, "ramp", 0, "spread the clients' first requests over this long")
	f.DurationVar(&o.duration, "duration", 0, "measure a steady state of this long after the ramp (default: --requests per client, all counted)")
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
	if o.clients < 1 || o.requests < 1 || o.maxTokens < 2 || o.ramp < 0 || o.duration < 0 {
		return httpReport{}, fmt.Errorf("need --clients ≥ 1, --requests ≥ 1, --max-tokens ≥ 2, and no negative --ramp or --duration")
	}
	if o.wait > 0 {
		if err := waitHealthy(ctx, o.url, o.wait); err != nil {
			return httpReport{}, err
		}
	}
	url := strings.TrimSuffix(o.url, "/") + "/v1/completions"
	start := time.Now()
	run := runID(start) // in every prompt, so no run reuses the KV cache an earlier one left
	measureFrom, measureTo := start.Add(o.ramp), start.Add(o.ramp+o.duration)
	more := func(sent int) bool {
		if o.duration > 0 {
			return time.Now().Before(measureTo)
		}
		return sent < o.requests
	}
	var (
		mu      sync.Mutex
		results []streamFigures
		wg      sync.WaitGroup
	)
	for c := range o.clients {
		wg.Go(func() {
			select {
			case <-time.After(o.ramp * time.Duration(c) / time.Duration(o.clients)):
			case <-ctx.Done():
				return
			}
			for i := 0; more(i) && ctx.Err() == nil; i++ {
				fig := streamOnce(ctx, url, o.token, requestBody(o, run, c, i))
				mu.Lock()
				results = append(results, fig)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if o.duration > 0 {
		return summariseWindow(results, o, measureFrom, measureTo), nil
	}
	rep := summarise(results, o.clients, time.Since(start))
	if o.ramp > 0 {
		rep.Mode, rep.RampSeconds = "ramped", o.ramp.Seconds()
	}
	return rep, nil
}

// runID tells one run's prompts from another's in a few tokens: the time in
// milliseconds, in base 36, modulo 36⁴ (it repeats every 28 minutes, and
// a reused cache would then only make one run's first request faster).
func runID(t time.Time) string {
	return strconv.FormatInt(t.UnixMilli()%(36*36*36*36), 36)
}

// requestBody is client c's request number i in the given run.
func requestBody(o benchHTTPOptions, run string, c, i int) []byte {
	prompt := o.prompt
	if !o.same {
		// A unique first word defeats prefix reuse, so every request pays
		// for its whole prompt.
		prompt = fmt.Sprintf("%s-%d-%d %s", run, c, i, o.prompt)
	}
	body, err := json.Marshal(map[string]any{
		"model": o.model, "prompt": prompt, "max_tokens": o.maxTokens, "stream": true,
		"stream_options": map[string]bool{"include_usage": true}, "ignore_eos": true, "temperature": 0,
	})
	if err != nil {
		panic(err) // strings, ints and bools always marshal
	}
	return body
}

// streamOnce sends one streaming completion and times its chunks. Every
// result, failures included, carries its start: a steady-state report
// counts the requests, errors too, that started in its window.
func streamOnce(ctx context.Context, url, token string, body []byte) streamFigures {
	start := time.Now()
	failed := func(err error) streamFigures { return streamFigures{start: start, err: err} }
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return failed(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return failed(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return failed(fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg))
	}
	fig := streamFigures{start: start}
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
				PromptTokens     int `json:"prompt_tokens"`
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			return failed(fmt.Errorf("bad chunk %q: %w", data, err))
		}
		if chunk.Error != nil {
			return failed(fmt.Errorf("stream error: %s", chunk.Error.Message))
		}
		// Text and usage are read independently: Ollama, asked for usage,
		// puts a zero usage object on every text chunk and the real one
		// on a last chunk without choices, so a zero usage is no usage.
		if u := chunk.Usage; u != nil && (u.CompletionTokens > 0 || u.PromptTokens > 0) {
			fig.tokens, fig.prompt = u.CompletionTokens, u.PromptTokens
		}
		if len(chunk.Choices) > 0 && chunk.Choices[0].Text != "" {
			last = time.Now()
			if first.IsZero() {
				first = last
			}
			fig.chunks = append(fig.chunks, last)
		}
	}
	if err := sc.Err(); err != nil {
		return failed(err)
	}
	if first.IsZero() || fig.tokens == 0 {
		return failed(errors.New("stream ended without text or usage"))
	}
	fig.ttft, fig.decode = first.Sub(start), last.Sub(first)
	return fig
}

// summarise a burst: every request counts, over the whole wall time.
func summarise(results []streamFigures, clients int, wall time.Duration) httpReport {
	rep := withRequestFigures(httpReport{Mode: "burst", Clients: clients, WallSeconds: wall.Seconds()}, results)
	for _, r := range results {
		rep.CompletionTokens += r.tokens // zero for failed requests
	}
	rep.AggregateTokPerS = float64(rep.CompletionTokens) / wall.Seconds()
	return rep
}

// withRequestFigures adds the request count, errors, TTFT percentiles and
// mean per-stream decode speed of results to rep.
func withRequestFigures(rep httpReport, results []streamFigures) httpReport {
	var ttfts []float64
	var perStream, prompt, completion float64
	for _, r := range results {
		rep.Requests++
		if r.err != nil {
			rep.Errors++
			if rep.FirstErrorMessage == "" {
				rep.FirstErrorMessage = r.err.Error()
			}
			continue
		}
		ttfts = append(ttfts, r.ttft.Seconds())
		prompt += float64(r.prompt)
		completion += float64(r.tokens)
		if r.decode > 0 {
			perStream += float64(r.tokens-1) / r.decode.Seconds()
		}
	}
	if ok := len(ttfts); ok > 0 {
		slices.Sort(ttfts)
		rep.TTFTP50Seconds = percentile(ttfts, 0.50)
		rep.TTFTP95Seconds = percentile(ttfts, 0.95)
		rep.PerStreamTokPerS = perStream / float64(ok)
		rep.PromptTokensMean = prompt / float64(ok)
		rep.CompletionMean = completion / float64(ok)
	}
	return rep
}

// summariseWindow summarises a steady state: TTFT and per-stream speed of
// the requests that started in [from, to), errors of those that did, and
// the completion tokens that arrived in the window, over its length. A
// request's tokens are spread evenly over its text chunks, which carry one
// token each unless a stop string or a split UTF-8 sequence held some back.
func summariseWindow(results []streamFigures, o benchHTTPOptions, from, to time.Time) httpReport {
	window := to.Sub(from)
	rep := httpReport{Mode: "steady", Clients: o.clients, RampSeconds: o.ramp.Seconds(), WallSeconds: window.Seconds()}
	var started []streamFigures
	var inWindow float64
	for _, r := range results {
		if !r.start.Before(from) && r.start.Before(to) {
			started = append(started, r)
		}
		n := 0
		for _, at := range r.chunks {
			if !at.Before(from) && at.Before(to) {
				n++
			}
		}
		if n > 0 {
			inWindow += float64(n) * float64(r.tokens) / float64(len(r.chunks))
		}
	}
	rep = withRequestFigures(rep, started)
	rep.CompletionTokens = int(inWindow + 0.5)
	rep.AggregateTokPerS = inWindow / window.Seconds()
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
	_, err := fmt.Fprintf(w, "%s, clients %d: %d requests (%.0f prompt tokens), %d errors | aggregate %.2f tok/s | per stream %.2f tok/s | ttft p50 %.3fs p95 %.3fs\n",
		r.Mode, r.Clients, r.Requests, r.PromptTokensMean, r.Errors, r.AggregateTokPerS, r.PerStreamTokPerS, r.TTFTP50Seconds, r.TTFTP95Seconds)
	if err == nil && r.FirstErrorMessage != "" {
		_, err = fmt.Fprintf(w, "first error: %s\n", r.FirstErrorMessage)
	}
	return err
}

func saveHTTPReport(path string, r httpReport) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("save report: %w", err)
	}
	return nil
}

func loadHTTPReport(path string) (httpReport, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return httpReport{}, fmt.Errorf("baseline: %w", err)
	}
	var r httpReport
	if err := json.Unmarshal(data, &r); err != nil {
		return httpReport{}, fmt.Errorf("baseline %s: %w", path, err)
	}
	if r.AggregateTokPerS <= 0 {
		return httpReport{}, fmt.Errorf("baseline %s has no aggregate throughput", path)
	}
	return r, nil
}

// printComparison says how r's throughput and TTFT compare with base's.
func printComparison(w io.Writer, r, base httpReport, name string) error {
	_, err := fmt.Fprintf(w, "against %s (%s, clients %d): aggregate %.2fx (%.2f against %.2f tok/s), ttft p95 %.3fs against %.3fs\n",
		name, base.Mode, base.Clients, r.AggregateTokPerS/base.AggregateTokPerS, r.AggregateTokPerS, base.AggregateTokPerS,
		r.TTFTP95Seconds, base.TTFTP95Seconds)
	return err
}
