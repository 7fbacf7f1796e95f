package main

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/shared"
)

// The rest of the OpenAI surface, through the official SDK against the
// real binary and the demo model: embeddings, structured output, tools,
// logprobs, several choices and stop strings.

func TestEmbeddingsEndToEnd(t *testing.T) {
	w := startWarden(t, "--lock", repoLock)
	ctx := context.Background()
	res, err := w.client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: demoName,
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"the cat sat", "a dog ran", "the cat sat"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 3 || res.Usage.PromptTokens == 0 || res.Usage.TotalTokens != res.Usage.PromptTokens {
		t.Fatalf("response %+v", res)
	}
	for i, d := range res.Data {
		if d.Index != int64(i) || math.Abs(norm(d.Embedding)-1) > 1e-4 {
			t.Errorf("embedding %d: index %d, length %g", i, d.Index, norm(d.Embedding))
		}
	}
	if !slices.Equal(res.Data[0].Embedding, res.Data[2].Embedding) || slices.Equal(res.Data[0].Embedding, res.Data[1].Embedding) {
		t.Error("equal texts embed differently, or different texts the same")
	}

	// base64 is little-endian float32, as OpenAI sends it; the SDK leaves
	// decoding to the caller.
	resp, err := w.http.Post(w.base+"/v1/embeddings", "application/json",
		strings.NewReader(`{"model":"warden-demo","input":"the cat sat","encoding_format":"base64"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b64 struct {
		Data []struct{ Embedding string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&b64); err != nil || len(b64.Data) != 1 {
		t.Fatalf("base64 response: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(b64.Data[0].Embedding)
	if err != nil || len(raw) != 4*len(res.Data[0].Embedding) {
		t.Fatalf("base64 embedding: %d bytes, %v", len(raw), err)
	}
	for i, want := range res.Data[0].Embedding {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); got != float32(want) {
			t.Fatalf("base64 element %d = %g, float %g", i, got, want)
		}
	}

	// Token IDs are checked against the vocabulary.
	_, err = w.client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: demoName, Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: []int64{1, 99999999}},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown token: %v", err)
	}
}

func norm(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

// personSchema uses every feature validate checks.
const personSchema = `{
	"type": "object",
	"properties": {
		"name": {"type": "string", "maxLength": 24},
		"age": {"type": "integer"},
		"color": {"type": "string", "enum": ["red", "green", "blue"]},
		"tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 3}
	},
	"required": ["name", "age", "color", "tags"],
	"additionalProperties": false
}`

func TestJSONSchemaEndToEnd(t *testing.T) {
	w := startWarden(t, "--lock", repoLock)
	var schema map[string]any
	if err := json.Unmarshal([]byte(personSchema), &schema); err != nil {
		t.Fatal(err)
	}
	for seed := range int64(2) { // grammar sampling is slow on a busy 2-core machine
		p := chatParams(demoName, "Describe a person as JSON.")
		p.Temperature, p.Seed, p.MaxTokens = openai.Float(1), openai.Int(seed), openai.Int(400)
		p.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "person", Schema: schema, Strict: openai.Bool(true)},
		}}
		c, err := w.client.Chat.Completions.New(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		text := c.Choices[0].Message.Content
		var v any
		if c.Choices[0].FinishReason != "stop" || json.Unmarshal([]byte(text), &v) != nil {
			t.Fatalf("seed %d: finish %q, not JSON: %q", seed, c.Choices[0].FinishReason, text)
		}
		if err := validate(schema, v); err != nil {
			t.Errorf("seed %d: %q does not validate: %v", seed, text, err)
		}
	}

	// json_object: any object. Cut short by max_tokens: "length", as OpenAI.
	p := chatParams(demoName, "JSON please")
	p.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}
	p.MaxTokens = openai.Int(3)
	c, err := w.client.Chat.Completions.New(context.Background(), p)
	if err != nil || c.Choices[0].FinishReason != "length" || !strings.HasPrefix(c.Choices[0].Message.Content, "{") {
		t.Errorf("cut short: %+v, %v", c, err)
	}
}

// validate checks v against the subset of JSON Schema personSchema uses:
// type, properties, required, additionalProperties false, enum, maxLength,
// items and maxItems.
func validate(schema map[string]any, v any) error {
	if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, v) {
		return fmt.Errorf("%v is not one of %v", v, enum)
	}
	switch schema["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%v is not an object", v)
		}
		props, _ := schema["properties"].(map[string]any)
		for _, r := range schema["required"].([]any) {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%q is missing", r)
			}
		}
		for k, val := range obj {
			sub, ok := props[k].(map[string]any)
			if !ok {
				if schema["additionalProperties"] == false {
					return fmt.Errorf("property %q is not allowed", k)
				}
				continue
			}
			if err := validate(sub, val); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%v is not a string", v)
		}
		if n, ok := schema["maxLength"].(float64); ok && len([]rune(s)) > int(n) {
			return fmt.Errorf("%q is longer than %g", s, n)
		}
	case "integer":
		if f, ok := v.(float64); !ok || f != math.Trunc(f) {
			return fmt.Errorf("%v is not an integer", v)
		}
	case "array":
		items, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%v is not an array", v)
		}
		if n, ok := schema["maxItems"].(float64); ok && len(items) > int(n) {
			return fmt.Errorf("%d items, more than %g", len(items), n)
		}
		for i, it := range items {
			if err := validate(schema["items"].(map[string]any), it); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
	default:
		return fmt.Errorf("validate does not know type %v", schema["type"])
	}
	return nil
}

func TestValidateCatchesViolations(t *testing.T) {
	var schema map[string]any
	if err := json.Unmarshal([]byte(personSchema), &schema); err != nil {
		t.Fatal(err)
	}
	good := `{"name":"Ann","age":3,"color":"red","tags":["a"]}`
	bad := []string{
		`{"name":"Ann","age":3,"color":"red"}`,
		`{"name":"Ann","age":3.5,"color":"red","tags":[]}`,
		`{"name":"Ann","age":3,"color":"pink","tags":[]}`,
		`{"name":"Ann","age":3,"color":"red","tags":["a","b","c","d"]}`,
		`{"name":"Ann","age":3,"color":"red","tags":[],"x":1}`,
		`{"name":"Annabelle Annabelle Annabelle","age":3,"color":"red","tags":[]}`,
	}
	for _, doc := range append([]string{good}, bad...) {
		var v any
		if err := json.Unmarshal([]byte(doc), &v); err != nil {
			t.Fatal(err)
		}
		if err := validate(schema, v); (err == nil) != (doc == good) {
			t.Errorf("validate(%s) = %v", doc, err)
		}
	}
}

func TestToolRoundTripEndToEnd(t *testing.T) {
	w := startWarden(t, "--lock", repoLock)
	ctx := context.Background()
	params := shared.FunctionParameters{
		"type": "object",
		"properties": map[string]any{
			"city": map[string]any{"type": "string", "maxLength": 20},
			"unit": map[string]any{"type": "string", "enum": []string{"celsius", "fahrenheit"}},
		},
		"required":             []string{"city", "unit"},
		"additionalProperties": false,
	}
	p := chatParams(demoName, "What is the weather in Paris?")
	p.MaxTokens = openai.Int(200)
	p.Tools = []openai.ChatCompletionToolParam{{Function: shared.FunctionDefinitionParam{
		Name: "get_weather", Description: openai.String("Current weather in a city"), Parameters: params,
	}}}
	p.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfChatCompletionNamedToolChoice: &openai.ChatCompletionNamedToolChoiceParam{
		Function: openai.ChatCompletionNamedToolChoiceFunctionParam{Name: "get_weather"},
	}}
	first, err := w.client.Chat.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	choice := first.Choices[0]
	if choice.FinishReason != "tool_calls" || len(choice.Message.ToolCalls) != 1 {
		t.Fatalf("no tool call: finish %q, message %+v", choice.FinishReason, choice.Message)
	}
	call := choice.Message.ToolCalls[0]
	var args map[string]any
	if !strings.HasPrefix(call.ID, "call_") || call.Function.Name != "get_weather" || json.Unmarshal([]byte(call.Function.Arguments), &args) != nil {
		t.Fatalf("call %+v", call)
	}
	var schema map[string]any
	raw, _ := json.Marshal(params)
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	if err := validate(schema, args); err != nil {
		t.Errorf("arguments %s: %v", call.Function.Arguments, err)
	}

	// Send the result back: the model answers in text, having read it.
	p.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{}
	p.MaxTokens = openai.Int(8)
	p.Messages = append(p.Messages, choice.Message.ToParam(), openai.ToolMessage(`{"temperature": 21, "unit": "celsius"}`, call.ID))
	second, err := w.client.Chat.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	answer := second.Choices[0]
	if len(answer.Message.ToolCalls) != 0 || answer.Message.Content == "" || answer.FinishReason == "tool_calls" {
		t.Errorf("answer %+v", answer)
	}
	// The call and its result are in the prompt.
	if second.Usage.PromptTokens <= first.Usage.PromptTokens+10 {
		t.Errorf("prompt grew from %d to %d tokens only", first.Usage.PromptTokens, second.Usage.PromptTokens)
	}

	// Streamed, the call arrives as deltas the SDK's accumulator joins.
	p.Messages = p.Messages[:1]
	p.MaxTokens = openai.Int(200)
	p.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")}
	stream := w.client.Chat.Completions.NewStreaming(ctx, p)
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices) != 1 || len(acc.Choices[0].Message.ToolCalls) != 1 || acc.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("streamed: %+v", acc.Choices)
	}
	streamed := acc.Choices[0].Message.ToolCalls[0]
	if streamed.Function.Name != "get_weather" || !json.Valid([]byte(streamed.Function.Arguments)) || !strings.HasPrefix(streamed.ID, "call_") {
		t.Errorf("streamed call %+v", streamed)
	}
}

func TestLogprobsChoicesAndStopEndToEnd(t *testing.T) {
	w := startWarden(t, "--lock", repoLock)
	ctx := context.Background()
	p := chatParams(demoName, "Tell me a story")
	p.MaxCompletionTokens = openai.Int(6) // wins over max_tokens (24)
	p.Logprobs, p.TopLogprobs = openai.Bool(true), openai.Int(3)
	p.User = openai.String("e2e-user")
	c, err := w.client.Chat.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	content := c.Choices[0].Logprobs.Content
	if int64(len(content)) != c.Usage.CompletionTokens || c.Usage.CompletionTokens != 6 {
		t.Fatalf("%d logprobs for %d tokens", len(content), c.Usage.CompletionTokens)
	}
	var text strings.Builder
	for _, tok := range content {
		text.WriteString(tok.Token)
		// Temperature 0: the chosen token is the most likely.
		if len(tok.TopLogprobs) != 3 || tok.TopLogprobs[0].Token != tok.Token || tok.Logprob > 0 {
			t.Errorf("token %+v", tok)
		}
	}
	if text.String() != c.Choices[0].Message.Content {
		t.Errorf("logprob tokens spell %q, content is %q", text.String(), c.Choices[0].Message.Content)
	}

	// n choices, each indexed, usage summed; sampled with a seed they
	// differ from each other and repeat exactly.
	p = chatParams(demoName, "Tell me a story")
	p.N, p.Temperature, p.Seed = openai.Int(3), openai.Float(1.5), openai.Int(42)
	several := func() []string {
		c, err := w.client.Chat.Completions.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		for i, ch := range c.Choices {
			if ch.Index != int64(i) {
				t.Errorf("choice %d has index %d", i, ch.Index)
			}
			texts = append(texts, ch.Message.Content)
		}
		if len(texts) != 3 || c.Usage.CompletionTokens < 3 {
			t.Fatalf("choices %q, usage %+v", texts, c.Usage)
		}
		return texts
	}
	a, b := several(), several()
	if !slices.Equal(a, b) || (a[0] == a[1] && a[1] == a[2]) {
		t.Errorf("choices %q then %q", a, b)
	}

	// Stop strings, one or a list: the text ends before the first.
	p = chatParams(demoName, "Tell me a story")
	p.MaxTokens = openai.Int(40)
	full, err := w.client.Chat.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	words := strings.Fields(full.Choices[0].Message.Content)
	if len(words) < 4 {
		t.Fatalf("too short to test stop strings: %q", full.Choices[0].Message.Content)
	}
	stop := " " + words[3]
	p.Stop = openai.ChatCompletionNewParamsStopUnion{OfStringArray: []string{"never-generated", stop}}
	cut, err := w.client.Chat.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := strings.Cut(full.Choices[0].Message.Content, stop)
	if cut.Choices[0].Message.Content != want || cut.Choices[0].FinishReason != "stop" {
		t.Errorf("stop %q: got %q (%s), want %q", stop, cut.Choices[0].Message.Content, cut.Choices[0].FinishReason, want)
	}

	// The legacy endpoint's logprobs.
	resp, err := w.http.Post(w.base+"/v1/completions", "application/json",
		strings.NewReader(`{"model":"warden-demo","prompt":"the cat","max_tokens":4,"logprobs":2,"temperature":0,"ignore_eos":true}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var tc openai.Completion
	if err := json.Unmarshal(body, &tc); err != nil {
		t.Fatal(err)
	}
	lp := tc.Choices[0].Logprobs
	if len(lp.Tokens) != 4 || len(lp.TokenLogprobs) != 4 || len(lp.TopLogprobs) != 4 || strings.Join(lp.Tokens, "") != tc.Choices[0].Text {
		t.Errorf("completion logprobs %s", body)
	}
}
