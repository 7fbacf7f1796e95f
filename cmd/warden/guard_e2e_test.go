package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/shared"
)

const (
	e2ePrompt = "You are the payroll assistant of Example Corp and you answer questions about leave and pay slips only"
	e2eSecret = "sk-live-51HqzTQ"
)

// constSchema is a JSON schema whose only valid document is {"a": value}:
// with it the grammar makes even a random-weight model write value out,
// so a leak is forced rather than hoped for.
func constSchema(value string) map[string]any {
	return map[string]any{
		"type":                 "object",
		"properties":           map[string]any{"a": map[string]any{"const": value}},
		"required":             []string{"a"},
		"additionalProperties": false,
	}
}

func guardedWarden(t *testing.T) *instance {
	t.Helper()
	dir := t.TempDir()
	prompt, secrets := filepath.Join(dir, "system.txt"), filepath.Join(dir, "secrets.txt")
	if err := os.WriteFile(prompt, []byte(e2ePrompt), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secrets, []byte("# keys no reply may hold\n"+e2eSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return startWarden(t, "--lock", repoLock, "--embedding-model", demoName,
		"--system-prompt-file", prompt, "--secrets-file", secrets)
}

func forcedChat(value string) openai.ChatCompletionNewParams {
	p := chatParams(demoName, "tell me")
	p.MaxTokens = openai.Int(400)
	p.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
		JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "leak", Schema: constSchema(value)},
	}}
	return p
}

// TestForcedLeaksAreBlocked: the system prompt or a secret, forced out by
// a grammar, never reaches the client, on chat (streamed or not),
// completions and responses; the same schema with harmless text passes
// untouched; and the audit log records each block.
func TestForcedLeaksAreBlocked(t *testing.T) {
	w := guardedWarden(t)
	ctx := context.Background()
	for name, value := range map[string]string{"system prompt": e2ePrompt, "secret": "key " + e2eSecret} {
		res, err := w.client.Chat.Completions.New(ctx, forcedChat(value))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := res.Choices[0]
		if got.FinishReason != "content_filter" || strings.Contains(got.Message.Content, "payroll") ||
			strings.Contains(got.Message.Content, e2eSecret) || !strings.HasSuffix(got.Message.Content, "I can't share that.") {
			t.Errorf("%s: finish %q, content %q", name, got.FinishReason, got.Message.Content)
		}

		stream := w.client.Chat.Completions.NewStreaming(ctx, forcedChat(value))
		var text strings.Builder
		finish := ""
		for stream.Next() {
			for _, c := range stream.Current().Choices {
				text.WriteString(c.Delta.Content)
				if c.FinishReason != "" {
					finish = c.FinishReason
				}
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if finish != "content_filter" || strings.Contains(text.String(), "payroll") || strings.Contains(text.String(), e2eSecret) {
			t.Errorf("%s streamed: finish %q, text %q", name, finish, text.String())
		}
	}

	harmless, err := w.client.Chat.Completions.New(ctx, forcedChat("hello world"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]string
	if err := json.Unmarshal([]byte(harmless.Choices[0].Message.Content), &doc); err != nil || doc["a"] != "hello world" ||
		harmless.Choices[0].FinishReason != "stop" {
		t.Errorf("harmless: %q, finish %q, %v", harmless.Choices[0].Message.Content, harmless.Choices[0].FinishReason, err)
	}

	// /v1/completions (response_format, llama-server's extension) and
	// /v1/responses (text.format), through plain HTTP.
	for _, c := range []struct{ path, body, cut string }{
		{"/v1/completions", `{"model":"warden-demo","prompt":"x","max_tokens":400,"response_format":{"type":"json_schema","json_schema":{"name":"leak","schema":` +
			mustJSON(constSchema("key "+e2eSecret)) + `}}}`, `"finish_reason":"content_filter"`},
		{"/v1/responses", `{"model":"warden-demo","input":"x","max_output_tokens":400,"text":{"format":{"type":"json_schema","name":"leak","schema":` +
			mustJSON(constSchema(e2ePrompt)) + `}}}`, `"reason":"content_filter"`},
	} {
		resp, err := w.http.Post(w.base+c.path, "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !strings.Contains(string(b), c.cut) || strings.Contains(string(b), "payroll") ||
			strings.Contains(string(b), e2eSecret) {
			t.Errorf("%s: %d %s %v", c.path, resp.StatusCode, b, err)
		}
	}

	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	out, err := runWarden(t, "audit", "tail", "--data-dir", w.dataDir, "--guard", "-n", "100")
	if err != nil {
		t.Fatalf("audit tail --guard: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 { // 2 leaks × (stream, not) + completions + responses
		t.Fatalf("audit tail --guard printed %d records, want 6:\n%s", len(lines), out)
	}
	for _, l := range lines {
		if !strings.Contains(l, `prompt_leak`) && !strings.Contains(l, `secret_leak`) || strings.Contains(l, e2eSecret) {
			t.Errorf("record %s", l)
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
