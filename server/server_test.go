package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/warden-llm/warden/engine"
)

// fakeModel stands in for llama.cpp: it echoes back the request it got, so
// tests see exactly what the server handed the engine.
type fakeModel struct {
	name    string // default "fake"
	pieces  []string
	context int
	got     chan engine.Request
}

func (f *fakeModel) Info() engine.ModelInfo {
	name := f.name
	if name == "" {
		name = "fake"
	}
	return engine.ModelInfo{Name: name, Context: f.context, Created: 1700000000}
}

func (f *fakeModel) Generate(ctx context.Context, req engine.Request, emit func(string) error) (engine.Result, error) {
	if err := req.Validate(); err != nil {
		return engine.Result{}, err
	}
	prompt := len(req.Prompt)
	for _, m := range req.Messages {
		prompt += len(m.Content)
	}
	if req.Prompt == "busy" {
		return engine.Result{}, engine.ErrQueueFull
	}
	if prompt >= f.context || req.MaxTokens > f.context-prompt {
		return engine.Result{}, engine.ContextError(f.context, prompt, req.MaxTokens)
	}
	select {
	case f.got <- req:
	default:
	}
	for i, p := range f.pieces {
		if req.MaxTokens > 0 && i == req.MaxTokens {
			return engine.Result{FinishReason: engine.FinishLength, PromptTokens: prompt, CompletionTokens: i}, nil
		}
		if err := emit(p); err != nil {
			return engine.Result{}, err
		}
	}
	return engine.Result{FinishReason: engine.FinishStop, PromptTokens: prompt, CompletionTokens: len(f.pieces)}, nil
}

func newTestServer(t *testing.T, maxBody int64) (*httptest.Server, *fakeModel) {
	t.Helper()
	fm := &fakeModel{pieces: []string{"Hel", "lo", " world"}, context: 512, got: make(chan engine.Request, 1)}
	s, err := New(Config{Models: []engine.Generator{fm}, MaxBodyBytes: maxBody, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, fm
}

func post(t *testing.T, url, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

func TestBadRequests(t *testing.T) {
	ts, _ := newTestServer(t, 4096)
	chat := ts.URL + "/v1/chat/completions"
	long := strings.Repeat("x", 600)
	tests := []struct {
		name   string
		url    string
		body   string
		status int
		param  string
	}{
		{"malformed JSON", chat, `{"model": "fake", "messages": [`, 400, ""},
		{"not JSON", chat, `hello`, 400, ""},
		{"trailing garbage", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}]} x`, 400, ""},
		{"messages wrong type", chat, `{"model": "fake", "messages": "hi"}`, 400, "messages"},
		{"max_tokens wrong type", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"max_tokens":"10"}`, 400, "max_tokens"},
		{"temperature wrong type", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"temperature":true}`, 400, "temperature"},
		{"empty messages", chat, `{"model": "fake", "messages": []}`, 400, "messages"},
		{"missing messages", chat, `{"model": "fake"}`, 400, "messages"},
		{"message without role", chat, `{"model":"fake","messages":[{"content":"hi"}]}`, 400, "messages[0].role"},
		{"missing model", chat, `{"messages":[{"role":"user","content":"hi"}]}`, 400, "model"},
		{"unknown model", chat, `{"model":"gpt-9","messages":[{"role":"user","content":"hi"}]}`, 404, "model"},
		{"huge max_tokens", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"max_tokens":100000000}`, 400, "max_tokens"},
		{"max_tokens overflowing int", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"max_tokens":1e300}`, 400, "max_tokens"},
		{"negative max_tokens", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"max_tokens":-1}`, 400, "max_tokens"},
		{"max_tokens beyond context", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"max_tokens":100000}`, 400, "messages"},
		{"prompt longer than context", chat, `{"model":"fake","messages":[{"role":"user","content":"` + long + `"}]}`, 400, "messages"},
		{"temperature too high", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"temperature":5}`, 400, "temperature"},
		{"top_p negative", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"top_p":-0.5}`, 400, "top_p"},
		{"presence_penalty too low", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"presence_penalty":-3}`, 400, "presence_penalty"},
		{"top_k huge", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"top_k":99999999}`, 400, "top_k"},
		{"n above the cap", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"n":9}`, 400, "n"},
		{"n zero", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"n":0}`, 400, "n"},
		{"top_logprobs without logprobs", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"top_logprobs":2}`, 400, "top_logprobs"},
		{"top_logprobs too many", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":21}`, 400, "top_logprobs"},
		{"completion logprobs too many", ts.URL + "/v1/completions", `{"model":"fake","prompt":"hi","logprobs":21}`, 400, "logprobs"},
		{"unknown response_format", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"xml"}}`, 400, "response_format.type"},
		{"json_schema without schema", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x"}}}`, 400, "response_format.json_schema"},
		{"json_schema not an object", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":[1]}}}`, 400, "response_format.json_schema.schema"},
		{"tool of unknown type", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"retrieval"}]}`, 400, "tools[0].type"},
		{"tool with bad name", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"a b"}}]}`, 400, "tools[0].function.name"},
		{"tool_choice names no tool", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}}`, 400, "tool_choice"},
		{"tool_choice required without tools", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"tool_choice":"required"}`, 400, "tool_choice"},
		{"tool call forced with JSON format", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required","response_format":{"type":"json_object"}}`, 400, "tool_choice"},
		{"tool message without id", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"},{"role":"tool","content":"42"}]}`, 400, "messages[1].tool_call_id"},
		{"tool calls on a user message", chat, `{"model":"fake","messages":[{"role":"user","content":"hi","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, 400, "messages[0].tool_calls"},
		{"too many stop strings", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"stop":["a","b","c","d","e"]}`, 400, "stop"},
		{"stop wrong type", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"stop":7}`, 400, ""},
		{"logit_bias too large", chat, `{"model":"fake","messages":[{"role":"user","content":"hi"}],"logit_bias":{` + manyBiases(301) + `}}`, 400, "logit_bias"},
		{"unsupported content part", chat, `{"model":"fake","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, 400, ""},
		{"unknown role", chat, `{"model":"fake","messages":[{"role":"wizard","content":"hi"}]}`, 400, "messages[0].role"},
		{"invalid UTF-8", chat, "{\"model\":\"fake\",\"messages\":[{\"role\":\"user\",\"content\":\"a\xff\xfeb\"}]}", 400, ""},
		{"body too large", chat, `{"model":"fake","messages":[{"role":"user","content":"` + strings.Repeat("y", 5000) + `"}]}`, 413, ""},
		{"completion without prompt", ts.URL + "/v1/completions", `{"model":"fake"}`, 400, "prompt"},
		{"completion prompt as tokens", ts.URL + "/v1/completions", `{"model":"fake","prompt":[1,2,3]}`, 400, "prompt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := post(t, tt.url, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.status, data)
			}
			e := decodeError(t, data)
			if e.Message == "" || e.Type == "" {
				t.Errorf("error lacks message or type: %s", data)
			}
			if tt.param != "" && (e.Param == nil || *e.Param != tt.param) {
				t.Errorf("param = %v, want %q; body %s", e.Param, tt.param, data)
			}
			assertHealthy(t, ts.URL)
		})
	}
}

func manyBiases(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"%d":1`, i)
	}
	return strings.Join(parts, ",")
}

func decodeError(t *testing.T, data []byte) apiError {
	t.Helper()
	var body struct {
		Error *apiError `json:"error"`
	}
	if err := json.Unmarshal(data, &body); err != nil || body.Error == nil {
		t.Fatalf("not an OpenAI error body: %s (%v)", data, err)
	}
	return *body.Error
}

func assertHealthy(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz answered %d after the request", resp.StatusCode)
	}
}

func TestUnknownFieldsIgnoredAndParamsPassed(t *testing.T) {
	ts, fm := newTestServer(t, 0)
	resp, data := post(t, ts.URL+"/v1/chat/completions", `{"model":"fake","messages":[{"role":"user","content":"hi"}],
		"future_option":{"x":1},"temperature":0,"seed":42,"stop":"END","max_completion_tokens":7,"top_k":5,"user":"u1"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, data)
	}
	req := <-fm.got
	if req.Sampling.Temperature != 0 || req.Sampling.Seed != 42 || req.Sampling.TopK != 5 || req.MaxTokens != 7 {
		t.Errorf("engine got %+v", req)
	}
	if len(req.Stop) != 1 || req.Stop[0] != "END" {
		t.Errorf("stop = %q", req.Stop)
	}
	var out chatCompletion
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if got := *out.Choices[0].Message.Content; got != "Hello world" {
		t.Errorf("content %q", got)
	}
	if out.Usage.TotalTokens != out.Usage.PromptTokens+out.Usage.CompletionTokens || out.Usage.CompletionTokens != 3 {
		t.Errorf("usage %+v", out.Usage)
	}
	if resp.Header.Get(requestIDHeader) == "" || !strings.HasSuffix(out.ID, resp.Header.Get(requestIDHeader)) {
		t.Errorf("id %q does not carry the request id %q", out.ID, resp.Header.Get(requestIDHeader))
	}
}

// readEvents returns the data payloads of an SSE response.
func readEvents(t *testing.T, r io.Reader) []string {
	t.Helper()
	var events []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("unexpected SSE line %q", line)
		}
		events = append(events, data)
	}
	return events
}

func TestChatStreamShape(t *testing.T) {
	ts, _ := newTestServer(t, 0)
	resp, err := http.Post(ts.URL+"/v1/chat/completions", "application/json", strings.NewReader(
		`{"model":"fake","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := readEvents(t, resp.Body)
	if len(events) != 7 || events[len(events)-1] != "[DONE]" {
		t.Fatalf("events %q", events)
	}
	var chunks []chatCompletion
	for _, e := range events[:len(events)-1] {
		var c chatCompletion
		if err := json.Unmarshal([]byte(e), &c); err != nil {
			t.Fatal(err)
		}
		if c.Object != "chat.completion.chunk" {
			t.Errorf("object %q", c.Object)
		}
		chunks = append(chunks, c)
	}
	if d := chunks[0].Choices[0].Delta; d.Role != "assistant" {
		t.Errorf("first delta %+v lacks the role", d)
	}
	var text string
	for _, c := range chunks[1:4] {
		text += *c.Choices[0].Delta.Content
	}
	if text != "Hello world" {
		t.Errorf("streamed %q", text)
	}
	if fr := chunks[4].Choices[0].FinishReason; fr == nil || *fr != "stop" {
		t.Errorf("finish chunk %+v", chunks[4])
	}
	if u := chunks[5]; len(u.Choices) != 0 || u.Usage == nil || u.Usage.CompletionTokens != 3 {
		t.Errorf("usage chunk %+v", u)
	}
}

func TestStreamErrorBeforeFirstTokenIsHTTPError(t *testing.T) {
	ts, _ := newTestServer(t, 0)
	resp, data := post(t, ts.URL+"/v1/completions",
		`{"model":"fake","stream":true,"prompt":"`+strings.Repeat("z", 700)+`"}`)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d: %s", resp.StatusCode, data)
	}
	if e := decodeError(t, data); e.Code == nil || *e.Code != "context_length_exceeded" {
		t.Errorf("error %+v", e)
	}
}

func TestModels(t *testing.T) {
	ts, _ := newTestServer(t, 0)
	resp, err := http.Get(ts.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var list modelList
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if list.Object != "list" || len(list.Data) != 1 || list.Data[0].ID != "fake" {
		t.Errorf("models %+v", list)
	}
	resp, err = http.Get(ts.URL + "/v1/models/nope")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || decodeError(t, data).Type == "" {
		t.Errorf("unknown model: %d %s", resp.StatusCode, data)
	}
	resp, err = http.Get(ts.URL + "/no/such/route")
	if err != nil {
		t.Fatal(err)
	}
	data, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || decodeError(t, data).Message == "" {
		t.Errorf("unknown route: %d %s", resp.StatusCode, data)
	}
}

func TestBusyModelAnswers429WithRetryAfter(t *testing.T) {
	ts, _ := newTestServer(t, 0)
	resp, data := post(t, ts.URL+"/v1/completions", `{"model":"fake","prompt":"busy"}`)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), data)
	}
	if e := decodeError(t, data); e.Code == nil || *e.Code != "server_busy" {
		t.Errorf("error %+v", e)
	}
}
