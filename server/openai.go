package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/chat"
)

// The OpenAI wire format, as far as Warden serves it. Request fields Warden
// does not know are ignored, as OpenAI does; fields it knows but cannot
// honour are refused, never silently dropped. docs/openai-api.md lists them.

// samplingFields are the request fields chat and text completions share.
type samplingFields struct {
	Model            string             `json:"model"`
	Stream           bool               `json:"stream"`
	StreamOptions    *streamOptions     `json:"stream_options"`
	MaxTokens        *int               `json:"max_tokens"`
	Temperature      *float64           `json:"temperature"`
	TopP             *float64           `json:"top_p"`
	N                *int               `json:"n"`
	Stop             stopList           `json:"stop"`
	PresencePenalty  *float64           `json:"presence_penalty"`
	FrequencyPenalty *float64           `json:"frequency_penalty"`
	Seed             *int64             `json:"seed"`
	LogitBias        map[string]float64 `json:"logit_bias"`
	User             string             `json:"user"`

	// llama.cpp extensions, spelled as llama-server spells them.
	TopK          *int     `json:"top_k"`
	MinP          *float64 `json:"min_p"`
	RepeatPenalty *float64 `json:"repeat_penalty"`
	RepeatLastN   *int     `json:"repeat_last_n"`
	IgnoreEOS     bool     `json:"ignore_eos"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// includeUsage reports whether a stream should end with a usage chunk.
func (f *samplingFields) includeUsage() bool {
	return f.StreamOptions != nil && f.StreamOptions.IncludeUsage
}

// stopList accepts OpenAI's "stop": a string, a list of strings, or null.
type stopList []string

func (s *stopList) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*s = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = stopList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("stop must be a string or a list of strings")
	}
	*s = many
	return nil
}

type chatRequest struct {
	samplingFields
	Messages            []chatMessage   `json:"messages"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Logprobs            bool            `json:"logprobs"`
	TopLogprobs         *int            `json:"top_logprobs"`
	Tools               []toolDef       `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls"`
	ResponseFormat      *responseFormat `json:"response_format"`
}

type responseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
		Strict *bool           `json:"strict"`
	} `json:"json_schema"`
}

type chatMessage struct {
	Role       string         `json:"role"`
	Content    messageContent `json:"content"`
	Name       string         `json:"name,omitempty"`
	ToolCalls  []wireToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

// messageContent accepts a string or a list of content parts, of which only
// text parts are supported.
type messageContent string

func (m *messageContent) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*m = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*m = messageContent(s)
		return nil
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return errors.New("content must be a string or a list of content parts")
	}
	var sb strings.Builder
	for _, p := range parts {
		if p.Type != "text" || p.Text == nil {
			return fmt.Errorf("content parts of type %q are not supported; only text is", p.Type)
		}
		sb.WriteString(*p.Text)
	}
	*m = messageContent(sb.String())
	return nil
}

type textRequest struct {
	samplingFields
	Prompt json.RawMessage `json:"prompt"`
	// ResponseFormat is llama-server's extension of completions: the
	// same grammar-enforced JSON as chat's.
	ResponseFormat *responseFormat `json:"response_format"`
	Echo           bool            `json:"echo"`
	Suffix         string          `json:"suffix"`
	BestOf         *int            `json:"best_of"`
	Logprobs       *int            `json:"logprobs"`
}

// Caps on numbers a client sends, applied before anything reaches the engine.
const (
	maxChoices         = 8
	maxMaxTokens       = 1 << 20
	maxMessages        = 1024
	maxLogitBias       = 300
	maxUserLen         = 256
	defaultTopP        = 1
	defaultTemperature = 1
)

// toEngine checks the shared fields and converts them. rnd supplies a seed
// when the client sent none.
func (f *samplingFields) toEngine(maxTokens *int, rnd func() uint32) (engine.Request, error) {
	var req engine.Request
	if f.N != nil && (*f.N < 1 || *f.N > maxChoices) {
		return req, invalidParam("n", fmt.Sprintf("n must be between 1 and %d", maxChoices))
	}
	if len(f.LogitBias) > maxLogitBias {
		return req, invalidParam("logit_bias", fmt.Sprintf("logit_bias may have at most %d entries", maxLogitBias))
	}
	if len(f.LogitBias) > 0 {
		return req, invalidParam("logit_bias", "logit_bias is not supported yet")
	}
	if len(f.User) > maxUserLen {
		return req, invalidParam("user", fmt.Sprintf("user must be at most %d bytes", maxUserLen))
	}
	if maxTokens != nil {
		if *maxTokens < 1 || *maxTokens > maxMaxTokens {
			return req, invalidParam("max_tokens", fmt.Sprintf("max_tokens must be between 1 and %d", maxMaxTokens))
		}
		req.MaxTokens = *maxTokens
	}
	req.Stop = f.Stop
	req.IgnoreEOS = f.IgnoreEOS

	s := engine.Sampling{Temperature: defaultTemperature, TopP: defaultTopP}
	var err error
	set := func(dst *float32, src *float64, name string) {
		if src == nil || err != nil {
			return
		}
		if math.IsNaN(*src) || math.IsInf(*src, 0) {
			err = invalidParam(name, name+" must be a finite number")
			return
		}
		*dst = float32(*src)
	}
	set(&s.Temperature, f.Temperature, "temperature")
	set(&s.TopP, f.TopP, "top_p")
	set(&s.PresencePenalty, f.PresencePenalty, "presence_penalty")
	set(&s.FrequencyPenalty, f.FrequencyPenalty, "frequency_penalty")
	set(&s.MinP, f.MinP, "min_p")
	set(&s.RepeatPenalty, f.RepeatPenalty, "repeat_penalty")
	if err != nil {
		return req, err
	}
	if f.TopK != nil {
		s.TopK = *f.TopK
	}
	if f.RepeatLastN != nil {
		s.RepeatLastN = *f.RepeatLastN
	}
	if f.Seed != nil {
		// Fold the 64-bit seed OpenAI allows into llama.cpp's 32 bits.
		s.Seed = uint32(*f.Seed) ^ uint32(*f.Seed>>32)
	} else {
		s.Seed = rnd()
	}
	req.Sampling = s
	return req, nil
}

// choices is how many completions the request asks for.
func (f *samplingFields) choices() int {
	if f.N == nil {
		return 1
	}
	return *f.N
}

func (r *chatRequest) toEngine(rnd func() uint32) (engine.Request, error) {
	switch {
	case len(r.Messages) == 0:
		return engine.Request{}, invalidParam("messages", "messages must be a non-empty list")
	case len(r.Messages) > maxMessages:
		return engine.Request{}, invalidParam("messages", fmt.Sprintf("at most %d messages are allowed", maxMessages))
	case r.TopLogprobs != nil && !r.Logprobs:
		return engine.Request{}, invalidParam("top_logprobs", "top_logprobs needs logprobs: true")
	case r.TopLogprobs != nil && (*r.TopLogprobs < 0 || *r.TopLogprobs > engine.MaxTopLogprobs):
		return engine.Request{}, invalidParam("top_logprobs", fmt.Sprintf("top_logprobs must be between 0 and %d", engine.MaxTopLogprobs))
	}
	maxTokens := r.MaxTokens
	if r.MaxCompletionTokens != nil {
		maxTokens = r.MaxCompletionTokens
	}
	req, err := r.samplingFields.toEngine(maxTokens, rnd)
	if err != nil {
		return req, err
	}
	if r.TopLogprobs != nil {
		req.TopLogprobs = *r.TopLogprobs
	}
	if req.Format, err = r.ResponseFormat.toEngine(); err != nil {
		return req, err
	}
	tools, choice, err := r.tools()
	if err != nil {
		return req, err
	}
	if choice.mode != "none" {
		req.Tools = tools
	}
	if choice.mode == "required" {
		if req.Format.JSON {
			return req, invalidParam("tool_choice", "a required tool call and a JSON response_format cannot be combined")
		}
		if req.Format, err = choice.format(tools); err != nil {
			return req, err
		}
	}
	req.Messages, err = r.messages()
	return req, err
}

// tools checks the tools and tool_choice.
func (r *chatRequest) tools() ([]chat.Tool, toolChoice, error) {
	tools, err := parseTools(r.Tools)
	if err != nil {
		return nil, toolChoice{}, err
	}
	choice, err := parseToolChoice(r.ToolChoice, tools)
	return tools, choice, err
}

// callsTools reports whether replies may hold tool calls to parse out.
func (r *chatRequest) callsTools() bool {
	_, choice, err := r.tools()
	return err == nil && choice.mode != "none"
}

func (r *chatRequest) messages() ([]chat.Message, error) {
	msgs := make([]chat.Message, 0, len(r.Messages))
	for i, m := range r.Messages {
		param := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case chat.RoleSystem, chat.RoleDeveloper, chat.RoleUser, chat.RoleAssistant:
		case chat.RoleTool:
			if m.ToolCallID == "" {
				return nil, invalidParam(param+".tool_call_id", "a tool message needs the tool_call_id it answers")
			}
		case "":
			return nil, invalidParam(param+".role", "every message needs a role")
		default:
			return nil, invalidParam(param+".role",
				fmt.Sprintf("role %q is not supported; use system, developer, user, assistant or tool", m.Role))
		}
		if len(m.ToolCalls) > 0 && m.Role != chat.RoleAssistant {
			return nil, invalidParam(param+".tool_calls", "only assistant messages carry tool calls")
		}
		calls, err := messageToolCalls(i, m.ToolCalls)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, chat.Message{Role: m.Role, Content: string(m.Content), ToolCalls: calls, ToolCallID: m.ToolCallID})
	}
	return msgs, nil
}

// toEngine turns response_format into a grammar-enforced format.
func (f *responseFormat) toEngine() (engine.Format, error) {
	if f == nil {
		return engine.Format{}, nil
	}
	switch f.Type {
	case "", "text":
		return engine.Format{}, nil
	case "json_object":
		return engine.Format{JSON: true}, nil
	case "json_schema":
		if f.JSONSchema == nil || len(bytes.TrimSpace(f.JSONSchema.Schema)) == 0 {
			return engine.Format{}, invalidParam("response_format.json_schema", "json_schema needs a schema")
		}
		schema := bytes.TrimSpace(f.JSONSchema.Schema)
		if schema[0] != '{' {
			return engine.Format{}, invalidParam("response_format.json_schema.schema", "the schema must be a JSON object")
		}
		return engine.Format{JSON: true, Schema: schema}, nil
	}
	return engine.Format{}, invalidParam("response_format.type", `response_format type must be "text", "json_object" or "json_schema"`)
}

func (r *textRequest) toEngine(rnd func() uint32) (engine.Request, error) {
	switch {
	case r.Echo:
		return engine.Request{}, invalidParam("echo", "echo is not supported")
	case r.Suffix != "":
		return engine.Request{}, invalidParam("suffix", "suffix is not supported")
	case r.BestOf != nil && *r.BestOf != 1:
		return engine.Request{}, invalidParam("best_of", "best_of must be 1")
	case r.Logprobs != nil && (*r.Logprobs < 0 || *r.Logprobs > engine.MaxTopLogprobs):
		return engine.Request{}, invalidParam("logprobs", fmt.Sprintf("logprobs must be between 0 and %d", engine.MaxTopLogprobs))
	}
	prompt, err := singlePrompt(r.Prompt)
	if err != nil {
		return engine.Request{}, err
	}
	maxTokens := r.MaxTokens
	if maxTokens == nil {
		sixteen := 16 // OpenAI's default for completions
		maxTokens = &sixteen
	}
	req, err := r.samplingFields.toEngine(maxTokens, rnd)
	if err != nil {
		return req, err
	}
	req.Prompt = prompt
	if r.Logprobs != nil {
		req.TopLogprobs = *r.Logprobs
	}
	req.Format, err = r.ResponseFormat.toEngine()
	return req, err
}

// singlePrompt accepts a string or a list holding one string.
func singlePrompt(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil && s != "" {
		return s, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil && len(list) == 1 && list[0] != "" {
		return list[0], nil
	}
	return "", invalidParam("prompt", "prompt must be a non-empty string (or a list of exactly one)")
}

// Responses.

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func usageOf(r engine.Result) *usage {
	return &usage{r.PromptTokens, r.CompletionTokens, r.PromptTokens + r.CompletionTokens}
}

// completionHeader is what every completion object and chunk starts with.
type completionHeader struct {
	ID                string `json:"id"`
	Object            string `json:"object"`
	Created           int64  `json:"created"`
	Model             string `json:"model"`
	SystemFingerprint string `json:"system_fingerprint"`
}

type chatCompletion struct {
	completionHeader
	Choices []chatChoice `json:"choices"`
	Usage   *usage       `json:"usage,omitempty"`
}

type chatChoice struct {
	Index        int           `json:"index"`
	Message      *replyMessage `json:"message,omitempty"`
	Delta        *replyMessage `json:"delta,omitempty"`
	Logprobs     *chatLogprobs `json:"logprobs"`
	FinishReason *string       `json:"finish_reason"`
}

type replyMessage struct {
	Role      string         `json:"role,omitempty"`
	Content   *string        `json:"content,omitempty"`
	Refusal   *string        `json:"refusal,omitempty"`
	ToolCalls []wireToolCall `json:"tool_calls,omitempty"`
}

type textCompletion struct {
	completionHeader
	Choices []textChoice `json:"choices"`
	Usage   *usage       `json:"usage,omitempty"`
}

type textChoice struct {
	Index        int           `json:"index"`
	Text         string        `json:"text"`
	Logprobs     *textLogprobs `json:"logprobs"`
	FinishReason *string       `json:"finish_reason"`
}

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type modelList struct {
	Object string        `json:"object"`
	Data   []modelObject `json:"data"`
}
