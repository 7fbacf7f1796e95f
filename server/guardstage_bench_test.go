package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/warden-llm/warden/engine"
)

// chattyModel streams 64 pieces of a plain reply at once: what is left to
// time is the server's own work, guard stage included.
type chattyModel struct{}

func (chattyModel) Info() engine.ModelInfo {
	return engine.ModelInfo{Name: "chatty", Context: 1 << 16, Created: 1700000000}
}

func (chattyModel) Generate(_ context.Context, _ engine.Request, emit func(string) error) (engine.Result, error) {
	for i := range 64 {
		if err := emit(benchWords[i%len(benchWords)]); err != nil {
			return engine.Result{}, err
		}
	}
	return engine.Result{FinishReason: engine.FinishStop, PromptTokens: 300, CompletionTokens: 64}, nil
}

var benchWords = strings.Fields("Your leave balance is twelve days and the next pay slip is due on the last working day of the month as usual ")

// BenchmarkGuardStage times one streamed 64-token chat reply through the
// server with the guard off and with warden serve's defaults plus a 2 KiB
// pinned prompt and ten secrets (make bench-guard). The difference is the
// guard's cost per request; docs/benchmarks.md sets it against a real
// 64-token stream.
func BenchmarkGuardStage(b *testing.B) {
	prompt := strings.Repeat(pinnedPrompt+" ", 2048/len(pinnedPrompt)+1)[:2048]
	user := strings.Repeat("Please tell me how many days of leave I have left this year, and when the next pay slip comes. ", 12)
	body := `{"model":"chatty","stream":true,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"` + user + `"}]}`
	on := defaultGuard()
	on.SystemPrompt = prompt
	on.Secrets = strings.Fields("sk-live-51HqzTQ ghp_0123456789abcdef AKIAIOSFODNN7EXAMPLE xoxb-1-2-3 hunter2-prod " +
		"payroll-db-pass-77 vault-root-9f3 stripe-whsec-42 jwt-signing-k1 smtp-relay-pw")
	for _, c := range []struct {
		name string
		g    Guard
	}{{"off", Guard{}}, {"on", on}} {
		b.Run(c.name, func(b *testing.B) {
			s, err := New(Config{Models: []engine.Generator{chattyModel{}}, Version: "bench", Guard: c.g})
			if err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(s.Handler())
			defer ts.Close()
			b.ResetTimer()
			for range b.N {
				resp, err := http.Post(ts.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != 200 {
					b.Fatalf("%d %v", resp.StatusCode, err)
				}
				resp.Body.Close()
			}
		})
	}
}
