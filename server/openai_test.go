package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/warden-llm/warden/engine"
)

// scriptModel emits fixed pieces, reporting a made-up log probability per
// piece when asked, and records every request it gets.
type scriptModel struct {
	pieces []string
	mu     sync.Mutex
	reqs   []engine.Request
}

func (f *scriptModel) Info() engine.ModelInfo { return engine.ModelInfo{Name: "script", Context: 4096} }

func (f *scriptModel) Generate(ctx context.Context, req engine.Request, emit func(string) error) (engine.Result, error) {
	if err := req.Validate(); err != nil {
		return engine.Result{}, err
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	for i, p := range f.pieces {
		if req.Logprobs != nil {
			lp := engine.TokenLogprob{Token: p, Logprob: -float32(i) - 0.5}
			for k := range req.TopLogprobs {
				lp.Top = append(lp.Top, engine.TokenLogprob{Token: p + strings.Repeat("!", k), Logprob: -float32(k)})
			}
			req.Logprobs([]engine.TokenLogprob{lp})
		}
		if err := emit(p); err != nil {
			return engine.Result{}, err
		}
	}
	return engine.Result{FinishReason: engine.FinishStop, PromptTokens: 7, CompletionTokens: len(f.pieces)}, nil
}

func (f *scriptModel) requests() []engine.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

// embedModel also embeds: input i of n tokens gets the vector (n, i).
type embedModel struct{ scriptModel }

func (f *embedModel) Embed(ctx context.Context, inputs []engine.EmbedInput) ([]engine.Embedding, error) {
	out := make([]engine.Embedding, len(inputs))
	for i, in := range inputs {
		n := len(in.Tokens)
		if in.Tokens == nil {
			n = len(strings.Fields(in.Text))
		}
		out[i] = engine.Embedding{Vector: []float32{float32(n), float32(i) + 0.25}, Tokens: n}
	}
	return out, nil
}

func scriptServer(t *testing.T, g engine.Generator) string {
	t.Helper()
	s, err := New(Config{Models: []engine.Generator{g}, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}

func postJSON(t *testing.T, url, body string, out any) {
	t.Helper()
	resp, data := post(t, url, body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
}

// sse returns the JSON payloads of a stream, up to [DONE].
func sse(t *testing.T, url, body string) []json.RawMessage {
	t.Helper()
	resp, data := post(t, url, body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, data)
	}
	var events []json.RawMessage
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		payload, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if payload == "[DONE]" {
			return events
		}
		events = append(events, json.RawMessage(payload))
	}
	t.Fatalf("stream did not end with [DONE]:\n%s", data)
	return nil
}

const weatherTool = `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]`

var toolPieces = []string{"Sure.", "\n<tool_", "call>\n{\"name\": \"get_weather\", ", "\"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"}

type chatResponse struct {
	Choices []struct {
		Index   int
		Message struct {
			Content   *string
			ToolCalls []wireToolCall `json:"tool_calls"`
		}
		Logprobs     *chatLogprobs
		FinishReason string `json:"finish_reason"`
	}
	Usage usage
}

func TestChatToolCallsParsed(t *testing.T) {
	f := &scriptModel{pieces: toolPieces}
	url := scriptServer(t, f) + "/v1/chat/completions"
	var got chatResponse
	postJSON(t, url, `{"model":"script","messages":[{"role":"user","content":"Paris?"}],`+weatherTool+`}`, &got)
	msg := got.Choices[0].Message
	if len(msg.ToolCalls) != 1 || got.Choices[0].FinishReason != "tool_calls" || msg.Content == nil || *msg.Content != "Sure." {
		t.Fatalf("reply %+v", got)
	}
	call := msg.ToolCalls[0]
	if !strings.HasPrefix(call.ID, "call_") || call.Type != "function" || call.Function.Name != "get_weather" || call.Function.Arguments != `{"city":"Paris"}` {
		t.Errorf("call %+v", call)
	}
	if req := f.requests()[0]; len(req.Tools) != 1 || req.Tools[0].Name != "get_weather" || req.Format.JSON {
		t.Errorf("engine request: tools %+v, format %+v", req.Tools, req.Format)
	}

	// With tool_choice none the tools are not offered and text stays text.
	var none chatResponse
	postJSON(t, url, `{"model":"script","messages":[{"role":"user","content":"Paris?"}],`+weatherTool+`,"tool_choice":"none"}`, &none)
	if c := none.Choices[0]; c.FinishReason != "stop" || len(c.Message.ToolCalls) != 0 || !strings.Contains(*c.Message.Content, "<tool_call>") {
		t.Errorf("tool_choice none: %+v", c)
	}
	if req := f.requests()[1]; req.Tools != nil {
		t.Errorf("tool_choice none offered tools: %+v", req.Tools)
	}
}

func TestChatToolCallsStream(t *testing.T) {
	url := scriptServer(t, &scriptModel{pieces: toolPieces}) + "/v1/chat/completions"
	var content, args strings.Builder
	var id, name, reason string
	for _, ev := range sse(t, url, `{"model":"script","stream":true,"messages":[{"role":"user","content":"Paris?"}],`+weatherTool+`}`) {
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content   *string
					ToolCalls []wireToolCall `json:"tool_calls"`
				}
				FinishReason *string `json:"finish_reason"`
			}
		}
		if err := json.Unmarshal(ev, &chunk); err != nil {
			t.Fatal(err)
		}
		d := chunk.Choices[0].Delta
		if d.Content != nil {
			content.WriteString(*d.Content)
		}
		for _, c := range d.ToolCalls {
			if c.Index == nil || *c.Index != 0 {
				t.Errorf("tool call delta without index 0: %s", ev)
			}
			id, name = id+c.ID, name+c.Function.Name
			args.WriteString(c.Function.Arguments)
		}
		if r := chunk.Choices[0].FinishReason; r != nil {
			reason = *r
		}
	}
	if content.String() != "Sure." || !strings.HasPrefix(id, "call_") || name != "get_weather" || args.String() != `{"city":"Paris"}` || reason != "tool_calls" {
		t.Errorf("streamed content %q, call %s %s(%s), finish %q", content.String(), id, name, args.String(), reason)
	}
}

func TestToolStreamHoldsBackTags(t *testing.T) {
	var ts toolStream
	var out []streamPart
	for _, p := range []string{"Hi <", "b> and <tool", "_cal", "l>{\"name\":\"f\",\"arguments\":{}}</tool_call>\n\n", "<tool_call>oops</tool_call> bye", "\n"} {
		out = append(out, ts.add(p)...)
	}
	out = append(out, ts.flush()...)
	var got []string
	for _, p := range out {
		if p.call != nil {
			got = append(got, "CALL "+p.call.Name+p.call.Arguments)
		} else {
			got = append(got, p.content)
		}
	}
	want := []string{"Hi ", "<b> and ", "CALL f{}", "\n\n<tool_call>oops</tool_call>", " bye"}
	if !slices.Equal(got, want) {
		t.Errorf("parts %q, want %q", got, want)
	}

	// Without a call, whitespace is text like any other.
	var plain toolStream
	out = append(append(plain.add("Hi"), plain.add("\n")...), plain.flush()...)
	if len(out) != 2 || out[0].content+out[1].content != "Hi\n" {
		t.Errorf("plain reply became %+v", out)
	}
}

func TestNamedToolChoiceForcesGrammar(t *testing.T) {
	f := &scriptModel{pieces: toolPieces[2:]}
	url := scriptServer(t, f) + "/v1/chat/completions"
	var got chatResponse
	postJSON(t, url, `{"model":"script","messages":[{"role":"user","content":"Paris?"}],`+weatherTool+`,"tool_choice":{"type":"function","function":{"name":"get_weather"}}}`, &got)
	format := f.requests()[0].Format
	if !format.JSON || format.Prefix != "<tool_call>\n" || format.Suffix != "\n</tool_call>" || !bytes.Contains(format.Schema, []byte(`"const":"get_weather"`)) {
		t.Errorf("format %+v, schema %s", format, format.Schema)
	}
	if len(got.Choices[0].Message.ToolCalls) != 0 { // the pieces lack the opening tag
		t.Errorf("parsed a call without its opening tag: %+v", got.Choices[0].Message)
	}
}

func TestResponseFormatReachesEngine(t *testing.T) {
	f := &scriptModel{pieces: []string{"{}"}}
	url := scriptServer(t, f) + "/v1/chat/completions"
	var a, b chatResponse
	postJSON(t, url, `{"model":"script","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"},"max_tokens":5,"max_completion_tokens":9}`, &a)
	postJSON(t, url, `{"model":"script","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"s","strict":true,"schema":{"type":"object"}}}}`, &b)
	reqs := f.requests()
	if !reqs[0].Format.JSON || reqs[0].Format.Schema != nil || reqs[0].MaxTokens != 9 {
		t.Errorf("json_object: format %+v, max tokens %d", reqs[0].Format, reqs[0].MaxTokens)
	}
	if !reqs[1].Format.JSON || string(reqs[1].Format.Schema) != `{"type":"object"}` {
		t.Errorf("json_schema: format %+v", reqs[1].Format)
	}
}

func TestSeveralChoices(t *testing.T) {
	f := &scriptModel{pieces: []string{"a", "b"}}
	base := scriptServer(t, f)
	var got chatResponse
	postJSON(t, base+"/v1/chat/completions", `{"model":"script","messages":[{"role":"user","content":"x"}],"n":3,"seed":40}`, &got)
	if len(got.Choices) != 3 || got.Usage.PromptTokens != 7 || got.Usage.CompletionTokens != 6 {
		t.Fatalf("choices %d, usage %+v", len(got.Choices), got.Usage)
	}
	var seeds []uint32
	for i, c := range got.Choices {
		if c.Index != i || *c.Message.Content != "ab" {
			t.Errorf("choice %d: %+v", i, c)
		}
		seeds = append(seeds, f.requests()[i].Sampling.Seed)
	}
	if !slices.Equal(seeds, []uint32{40, 41, 42}) {
		t.Errorf("seeds %v", seeds)
	}

	// Streaming: each choice's chunks carry its index and it finishes.
	text := map[int]string{}
	finished := map[int]bool{}
	for _, ev := range sse(t, base+"/v1/completions", `{"model":"script","prompt":"x","n":2,"stream":true}`) {
		var chunk struct {
			Choices []struct {
				Index        int
				Text         string
				FinishReason *string `json:"finish_reason"`
			}
		}
		if err := json.Unmarshal(ev, &chunk); err != nil {
			t.Fatal(err)
		}
		for _, c := range chunk.Choices {
			text[c.Index] += c.Text
			finished[c.Index] = finished[c.Index] || c.FinishReason != nil
		}
	}
	if text[0] != "ab" || text[1] != "ab" || !finished[0] || !finished[1] {
		t.Errorf("streamed choices %v, finished %v", text, finished)
	}
}

func TestLogprobs(t *testing.T) {
	base := scriptServer(t, &scriptModel{pieces: []string{"é", "b"}})
	var got chatResponse
	postJSON(t, base+"/v1/chat/completions", `{"model":"script","messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":2}`, &got)
	lp := got.Choices[0].Logprobs
	if lp == nil || len(lp.Content) != 2 {
		t.Fatalf("logprobs %+v", lp)
	}
	first := lp.Content[0]
	if first.Token != "é" || !slices.Equal(first.Bytes, []int{0xc3, 0xa9}) || first.Logprob != -0.5 || len(first.TopLogprobs) != 2 || first.TopLogprobs[1].Token != "é!" {
		t.Errorf("first token %+v", first)
	}

	var text struct {
		Choices []struct{ Logprobs textLogprobs }
	}
	postJSON(t, base+"/v1/completions", `{"model":"script","prompt":"x","logprobs":1}`, &text)
	tl := text.Choices[0].Logprobs
	if !slices.Equal(tl.Tokens, []string{"é", "b"}) || !slices.Equal(tl.TextOffset, []int{0, 2}) || tl.TokenLogprobs[1] != -1.5 || tl.TopLogprobs[0]["é"] != 0 {
		t.Errorf("text logprobs %+v", tl)
	}
}

func TestEmbeddings(t *testing.T) {
	url := scriptServer(t, &embedModel{}) + "/v1/embeddings"
	type list struct {
		Data []struct {
			Index     int
			Embedding json.RawMessage
		}
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		}
	}
	var floats, b64, tokens list
	postJSON(t, url, `{"model":"script","input":["one two","three"]}`, &floats)
	postJSON(t, url, `{"model":"script","input":["one two","three"],"encoding_format":"base64"}`, &b64)
	postJSON(t, url, `{"model":"script","input":[[5,6,7],[8]]}`, &tokens)
	if len(floats.Data) != 2 || floats.Usage.PromptTokens != 3 || string(floats.Data[1].Embedding) != "[1,1.25]" {
		t.Fatalf("floats %+v", floats)
	}
	var s string
	if err := json.Unmarshal(b64.Data[1].Embedding, &s); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != 8 || math.Float32frombits(binary.LittleEndian.Uint32(raw[4:])) != 1.25 {
		t.Errorf("base64 %q decodes to %v, %v", s, raw, err)
	}
	if tokens.Usage.PromptTokens != 4 || string(tokens.Data[0].Embedding) != "[3,0.25]" {
		t.Errorf("tokens %+v", tokens)
	}
	for _, body := range []string{`{"model":"script","input":[]}`, `{"model":"script","input":{"a":1}}`,
		`{"model":"script","input":"x","dimensions":2}`, `{"model":"script","input":"x","encoding_format":"hex"}`} {
		if resp, data := post(t, url, body); resp.StatusCode != 400 {
			t.Errorf("%s: status %d %s", body, resp.StatusCode, data)
		}
	}

	// A model that cannot embed says so.
	plain := scriptServer(t, &scriptModel{}) + "/v1/embeddings"
	if resp, data := post(t, plain, `{"model":"script","input":"x"}`); resp.StatusCode != 400 || !strings.Contains(string(data), "does not produce embeddings") {
		t.Errorf("status %d %s", resp.StatusCode, data)
	}
}
