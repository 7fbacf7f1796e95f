package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBenchEngineStreams: with --streams, every run starts that many
// generations together and reports their summed tokens.
func TestBenchEngineStreams(t *testing.T) {
	model := filepath.Join(t.TempDir(), "demo.gguf")
	if out, err := runWarden(t, "testmodel", "--preset", "demo", model); err != nil {
		t.Fatalf("testmodel: %v\n%s", err, out)
	}
	for _, streams := range []int{1, 3} {
		out, err := runWarden(t, "bench", "engine", "--model", model, "--streams", strconv.Itoa(streams),
			"--runs", "2", "--prompt-tokens", "8", "--gen-tokens", "6", "--json", "--log-level", "error")
		if err != nil {
			t.Fatalf("bench engine --streams %d: %v\n%s", streams, err, out)
		}
		var rep struct {
			Runs []engineFigures `json:"runs"`
		}
		// llama.cpp writes its own lines to stderr; the report is the JSON one.
		i := strings.LastIndex(out, "\n{")
		if err := json.Unmarshal([]byte(out[i+1:]), &rep); err != nil {
			t.Fatalf("bench engine --json printed %q: %v", out, err)
		}
		if len(rep.Runs) != 2 {
			t.Fatalf("want 2 measured runs, got %+v", rep.Runs)
		}
		for _, r := range rep.Runs {
			if r.Streams != streams || r.DecodeTokens != streams*5 || r.PromptTokens < streams*8 {
				t.Errorf("--streams %d: run %+v", streams, r)
			}
			if r.DecodeTokPerS <= 0 || r.PromptTokPerS <= 0 || r.TimeToFirstTok <= 0 {
				t.Errorf("--streams %d: figures missing in %+v", streams, r)
			}
		}
	}
	if out, err := runWarden(t, "bench", "engine", "--model", model, "--streams", "0"); err == nil {
		t.Errorf("--streams 0 accepted:\n%s", out)
	}
}

// TestSummariseWindow: a steady-state report counts the requests that
// started in the window and the tokens that arrived in it, and nothing else.
func TestSummariseWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	chunks := func(from, to float64, n int) []time.Time {
		var c []time.Time
		for i := range n {
			c = append(c, at(from+(to-from)*float64(i)/float64(n-1)))
		}
		return c
	}
	results := []streamFigures{
		// Started before the window; 10 tokens, 5 of them inside it.
		{start: at(0), ttft: 5 * time.Second, decode: 9 * time.Second, tokens: 10, chunks: chunks(5, 14, 10)},
		// Started inside; all 10 tokens inside.
		{start: at(10), ttft: time.Second, decode: 4 * time.Second, tokens: 10, chunks: chunks(11, 15, 10)},
		// Started inside; 20 tokens in 10 chunks, 4 chunks inside the window.
		{start: at(12), ttft: 4 * time.Second, decode: 9 * time.Second, tokens: 20, chunks: chunks(16, 25, 10)},
		// Started inside and failed.
		{start: at(13), err: errors.New("HTTP 429")},
		// Started after the window.
		{start: at(20), ttft: 50 * time.Millisecond, decode: time.Second, tokens: 10, chunks: chunks(20, 21, 10)},
	}
	o := benchHTTPOptions{clients: 3, ramp: 10 * time.Second}
	rep := summariseWindow(results, o, at(10), at(20))
	if rep.Mode != "steady" || rep.Requests != 3 || rep.Errors != 1 || rep.FirstErrorMessage != "HTTP 429" {
		t.Errorf("requests: %+v", rep)
	}
	if rep.CompletionTokens != 5+10+8 || rep.AggregateTokPerS != 2.3 {
		t.Errorf("tokens in window: %d at %.2f tok/s, want 23 at 2.30", rep.CompletionTokens, rep.AggregateTokPerS)
	}
	if rep.TTFTP50Seconds != 1 || rep.TTFTP95Seconds != 4 {
		t.Errorf("ttft p50 %.2f p95 %.2f, want 1 and 4 (the two that started in the window)", rep.TTFTP50Seconds, rep.TTFTP95Seconds)
	}
	if rep.CompletionMean != 15 {
		t.Errorf("completion tokens per request %.2f, want 15 (the two that started in the window)", rep.CompletionMean)
	}
	if want := (9.0/4 + 19.0/9) / 2; rep.PerStreamTokPerS != want {
		t.Errorf("per stream %.3f, want %.3f", rep.PerStreamTokPerS, want)
	}
}

// TestBenchHTTPSteady drives a real server in steady-state mode. Both
// clients start before the window, so a request counted in it means the
// clients went on sending after their first. One llama.cpp thread, because
// spinning threads of parallel test processes can slow a server that has
// several to a crawl; no request limit, since the demo model answers in
// milliseconds when the machine is quiet.
func TestBenchHTTPSteady(t *testing.T) {
	w := startWarden(t, "--lock", repoLock, "--parallel", "2", "--threads", "1", "--rate-requests", "0")
	rep, err := runBenchHTTP(context.Background(), benchHTTPOptions{
		url: w.base, token: w.token, model: demoName, clients: 2, requests: 1, maxTokens: 8, prompt: "the cat",
		ramp: 200 * time.Millisecond, duration: 3 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mode != "steady" || rep.Errors != 0 || rep.Requests < 1 || rep.CompletionTokens < 1 {
		t.Fatalf("report %+v", rep)
	}
	if rep.WallSeconds != 3 || math.Abs(rep.AggregateTokPerS*3-float64(rep.CompletionTokens)) > 0.5 {
		t.Errorf("window figures inconsistent: %+v", rep)
	}
}

// TestBenchBaseline: a report saved with --save reads back as a baseline,
// and the comparison states the ratio of the aggregates.
func TestBenchBaseline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "one.json")
	one := httpReport{Mode: "steady", Clients: 1, AggregateTokPerS: 20, TTFTP95Seconds: 0.5}
	if err := saveHTTPReport(path, one); err != nil {
		t.Fatal(err)
	}
	base, err := loadHTTPReport(path)
	if err != nil || base != one {
		t.Fatalf("read back %+v, %v; saved %+v", base, err, one)
	}
	var out strings.Builder
	eight := httpReport{Mode: "steady", Clients: 8, AggregateTokPerS: 31, TTFTP95Seconds: 0.9}
	if err := printComparison(&out, eight, base, "one.json"); err != nil {
		t.Fatal(err)
	}
	if want := "aggregate 1.55x (31.00 against 20.00 tok/s), ttft p95 0.900s against 0.500s"; !strings.Contains(out.String(), want) {
		t.Errorf("comparison %q lacks %q", out.String(), want)
	}
	empty := filepath.Join(t.TempDir(), "empty.json")
	if err := saveHTTPReport(empty, httpReport{Mode: "burst"}); err != nil {
		t.Fatal(err)
	}
	if _, err := loadHTTPReport(empty); err == nil {
		t.Error("a baseline without throughput was accepted")
	}
}

// TestStreamErrorKeepsStart: a stream that fails midway still says when it
// started, so a steady-state report counts it as an error in its window.
func TestStreamErrorKeepsStart(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {\"error\":{\"message\":\"boom\"}}\n\n")
	}))
	defer ts.Close()
	from := time.Now()
	fig := streamOnce(context.Background(), ts.URL, "", []byte(`{}`))
	if fig.err == nil || !strings.Contains(fig.err.Error(), "boom") || fig.start.Before(from) {
		t.Fatalf("figures %+v", fig)
	}
	rep := summariseWindow([]streamFigures{fig}, benchHTTPOptions{clients: 1}, from, time.Now().Add(time.Second))
	if rep.Requests != 1 || rep.Errors != 1 {
		t.Errorf("a failed stream in the window: %+v", rep)
	}
}

// TestStreamOllamaUsage: Ollama's OpenAI endpoint, asked for usage, sends
// "usage" with zeros on every text chunk and the real figures on a last
// chunk without choices; the text still counts, and the zeros do not
// replace the real usage.
func TestStreamOllamaUsage(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Error("a request without a token sent an Authorization header")
		}
		w.Header().Set("Content-Type", "text/event-stream")
		zero := `"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}`
		for _, text := range []string{"a", "b", "c"} {
			fmt.Fprintf(w, "data: {\"choices\":[{\"text\":%q,\"index\":0,\"finish_reason\":null}],%s}\n\n", text, zero)
		}
		fmt.Fprintf(w, "data: {\"choices\":[{\"text\":\"\",\"index\":0,\"finish_reason\":\"length\"}],%s}\n\n", zero)
		fmt.Fprint(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15}}\n\n")
		fmt.Fprintf(w, "data: [DONE]\n\n")
	}))
	defer ts.Close()
	fig := streamOnce(context.Background(), ts.URL, "", []byte(`{}`))
	if fig.err != nil {
		t.Fatal(fig.err)
	}
	if fig.tokens != 3 || fig.prompt != 12 || len(fig.chunks) != 3 {
		t.Errorf("tokens %d, prompt %d, text chunks %d; want 3, 12, 3", fig.tokens, fig.prompt, len(fig.chunks))
	}
}
