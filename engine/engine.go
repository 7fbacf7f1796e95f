// Package engine defines what Warden asks of a language model, independent of
// the library that runs it: a request (prompt, sampling, limits), the text it
// streams back, and why it stopped. The llama.cpp binding lives in
// engine/llamacpp; the HTTP server sees only the types here, so it can be
// tested without loading a model and the binding can change behind it.
package engine

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/warden-llm/warden/engine/chat"
)

// Generator runs completion requests against one loaded model.
type Generator interface {
	// Info describes the model being served.
	Info() ModelInfo
	// Generate runs req and calls emit with each piece of new text, in
	// order, from the caller's goroutine. Every piece is valid UTF-8 and
	// never contains a stop string. If emit returns an error, generation
	// stops and Generate returns that error.
	Generate(ctx context.Context, req Request, emit func(text string) error) (Result, error)
}

// CPUKernels says which build of the CPU kernels runs a model's CPU work:
// a variant library chosen for this CPU (engine/cpuvariant), or the one
// built into the binary.
type CPUKernels struct {
	Variant  string   // "sapphirerapids", "icelake", ..., or "built-in"
	Library  string   // the variant's shared library; empty for built-in
	Features []string // the CPU features the kernels use, which decided the choice
	Note     string   // why the built-in kernels run, when a variant was expected
}

// ModelInfo describes a loaded model.
type ModelInfo struct {
	Name         string // name clients use in the "model" field
	Path         string // file the weights were loaded from
	SHA256       string // hex digest of the file, when verified
	Architecture string // general.architecture, e.g. "llama"
	Context      int    // tokens one request may use, prompt plus completion
	Template     string // chat template family used to render messages
	Dimensions   int    // length of the model's embeddings
	Created      int64  // Unix time the model was loaded
}

// Request is one completion: either chat messages or a raw text prompt.
type Request struct {
	Messages []chat.Message // rendered through the model's chat template
	Tools    []chat.Tool    // offered to the model in the rendered prompt; needs Messages
	Prompt   string         // used as-is when Messages is empty

	Sampling  Sampling
	Format    Format   // constrains the completion's text; the zero value leaves it free
	MaxTokens int      // completion token limit; 0 means until the context is full
	Stop      []string // generation ends before the first occurrence of any of these
	IgnoreEOS bool     // keep going past end-of-generation tokens (benchmarks)

	// Logprobs, when set, receives the log probability of each generated
	// token with its TopLogprobs most likely alternatives. It is called
	// from Generate's goroutine, just before the emit whose text completes
	// those tokens, or once more before Generate returns for tokens cut
	// short by a stop string. Tokens that never reach the text (the
	// end-of-generation token, text after a stop string) are not reported.
	Logprobs    func([]TokenLogprob)
	TopLogprobs int
}

// Format constrains generated text with a grammar, so that it always has a
// given shape until it is complete. A completion cut short by MaxTokens
// ends with FinishLength and incomplete text, as OpenAI's does.
type Format struct {
	// JSON makes the text one JSON object, and, when Schema is set, one
	// valid against that JSON Schema.
	JSON   bool
	Schema []byte
	// Prefix and Suffix surround the JSON literally, e.g. the tags of a
	// tool call.
	Prefix, Suffix string
}

// TokenLogprob is a token's natural-log probability under the model, before
// temperature and other sampling settings reshape it.
type TokenLogprob struct {
	Token   string // the token's text; a piece of a character may not be valid UTF-8
	Logprob float32
	Top     []TokenLogprob // most likely tokens at this position, best first
}

// Sampling controls how each next token is chosen. The zero value is greedy.
type Sampling struct {
	Temperature      float32 // 0 picks the most likely token
	TopP             float32 // 0 or 1 disables nucleus sampling
	TopK             int     // 0 disables
	MinP             float32 // 0 disables
	RepeatPenalty    float32 // 1 or 0 disables
	RepeatLastN      int     // tokens the penalties look back over
	PresencePenalty  float32
	FrequencyPenalty float32
	Seed             uint32
}

// Limits on request parameters. They are checked here, before anything
// reaches llama.cpp, whatever the caller validated already.
const (
	MaxStopStrings = 4
	MaxStopLen     = 256
	MaxRepeatLastN = 4096
	MaxTopLogprobs = 20
	MaxSchemaBytes = 64 << 10
	MaxFormatAffix = 256 // bytes of Format.Prefix or Format.Suffix
)

// Validate reports the first parameter out of range, as an *InvalidError.
func (r Request) Validate() error {
	if len(r.Messages) == 0 && r.Prompt == "" {
		return invalid("messages", "a request needs messages or a prompt")
	}
	if !utf8.ValidString(r.Prompt) {
		return invalid("prompt", "prompt is not valid UTF-8")
	}
	if r.MaxTokens < 0 {
		return invalid("max_tokens", "max_tokens must be at least 1")
	}
	if len(r.Stop) > MaxStopStrings {
		return invalid("stop", fmt.Sprintf("at most %d stop sequences are allowed", MaxStopStrings))
	}
	for _, s := range r.Stop {
		if s == "" || len(s) > MaxStopLen || !utf8.ValidString(s) {
			return invalid("stop", fmt.Sprintf("each stop sequence must be valid UTF-8, 1 to %d bytes", MaxStopLen))
		}
	}
	if len(r.Tools) > 0 && len(r.Messages) == 0 {
		return invalid("tools", "tools need chat messages")
	}
	if r.TopLogprobs < 0 || r.TopLogprobs > MaxTopLogprobs {
		return invalid("top_logprobs", fmt.Sprintf("top_logprobs must be between 0 and %d", MaxTopLogprobs))
	}
	if err := r.Format.validate(); err != nil {
		return err
	}
	return r.Sampling.Validate()
}

func (f Format) validate() error {
	switch {
	case !f.JSON && (f.Schema != nil || f.Prefix != "" || f.Suffix != ""):
		return invalid("response_format", "a schema or affix needs a JSON format")
	case len(f.Schema) > MaxSchemaBytes:
		return invalid("response_format", fmt.Sprintf("a JSON schema may have at most %d bytes", MaxSchemaBytes))
	case len(f.Prefix) > MaxFormatAffix || len(f.Suffix) > MaxFormatAffix ||
		!utf8.ValidString(f.Prefix) || !utf8.ValidString(f.Suffix):
		return invalid("response_format", "format affixes must be valid UTF-8, at most 256 bytes")
	}
	return nil
}

// Validate checks every field against the range llama.cpp handles safely.
func (s Sampling) Validate() error {
	switch {
	case !between(s.Temperature, 0, 2):
		return invalid("temperature", "temperature must be between 0 and 2")
	case !between(s.TopP, 0, 1):
		return invalid("top_p", "top_p must be between 0 and 1")
	case s.TopK < 0 || s.TopK > 1000:
		return invalid("top_k", "top_k must be between 0 and 1000")
	case !between(s.MinP, 0, 1):
		return invalid("min_p", "min_p must be between 0 and 1")
	case !between(s.RepeatPenalty, 0, 2):
		return invalid("repeat_penalty", "repeat_penalty must be between 0 and 2")
	case s.RepeatLastN < 0 || s.RepeatLastN > MaxRepeatLastN:
		return invalid("repeat_last_n", fmt.Sprintf("repeat_last_n must be between 0 and %d", MaxRepeatLastN))
	case !between(s.PresencePenalty, -2, 2):
		return invalid("presence_penalty", "presence_penalty must be between -2 and 2")
	case !between(s.FrequencyPenalty, -2, 2):
		return invalid("frequency_penalty", "frequency_penalty must be between -2 and 2")
	}
	return nil
}

// between is false for NaN, which compares false with everything.
func between(v, lo, hi float32) bool { return v >= lo && v <= hi }

// EmbedInput is one text to embed, or its token IDs when a client sent
// tokens rather than text.
type EmbedInput struct {
	Text   string
	Tokens []int
}

// Embedding is one input's vector, of unit length, and the tokens it took.
// Models that embed offer an Embed(ctx, []EmbedInput) ([]Embedding, error)
// method beside Generate.
type Embedding struct {
	Vector []float32
	Tokens int
}

// TokenCounter is offered by models that can say how many tokens a text
// takes, as document chunking needs: a chunk is measured in the embedding
// model's own tokens.
type TokenCounter interface {
	CountTokens(text string) (int, error)
}

// MaxEmbedInputs bounds the inputs of one Embed call.
const MaxEmbedInputs = 256

// ErrEmbeddingOnly is returned by Generate for a model that can only embed.
var ErrEmbeddingOnly = &InvalidError{Param: "model", Code: "model_not_supported",
	Message: "this model only produces embeddings: use /v1/embeddings"}

// FinishReason says why generation ended, in OpenAI's words.
type FinishReason string

const (
	FinishStop   FinishReason = "stop"   // end-of-generation token or stop string
	FinishLength FinishReason = "length" // max_tokens or the context was reached
	// FinishContentFilter: the server's guard cut the reply (a leak).
	FinishContentFilter FinishReason = "content_filter"
)

// Result summarises a finished generation.
type Result struct {
	FinishReason     FinishReason
	PromptTokens     int
	CompletionTokens int
	Queued           time.Duration // waiting for a free sequence
}

// InvalidError is a request the engine refuses to run. Param names the
// request field at fault, in OpenAI's spelling.
type InvalidError struct {
	Param   string
	Code    string // machine-readable reason, e.g. "context_length_exceeded"
	Message string
}

func (e *InvalidError) Error() string { return e.Message }

func invalid(param, msg string) error { return &InvalidError{Param: param, Message: msg} }

// Errors for requests the engine could not start. None of them is the
// request's fault; each is worth retrying later.
var (
	ErrClosed       = errors.New("model is unloaded")
	ErrQueueFull    = errors.New("too many requests are waiting for this model")
	ErrQueueTimeout = errors.New("the request waited too long for a free slot")
	// ErrEngineLost: the engine process died (crashed, or was killed)
	// while it held the request. Other requests go on once it restarts.
	ErrEngineLost = errors.New("the model's engine process stopped while it held this request")
	// ErrEngineUnavailable: no engine process is ready to take the
	// request: it is restarting, or it crashed too often and was given up.
	ErrEngineUnavailable = errors.New("the model's engine process is not running")
)

// ContextError is returned when the prompt, or prompt plus max_tokens, does
// not fit the context window.
func ContextError(context, prompt, maxTokens int) error {
	msg := fmt.Sprintf("this model's maximum context length is %d tokens, but the prompt has %d tokens", context, prompt)
	if maxTokens > 0 {
		msg = fmt.Sprintf("this model's maximum context length is %d tokens, but %d were requested (%d in the prompt, %d for the completion); shorten the prompt or lower max_tokens",
			context, prompt+maxTokens, prompt, maxTokens)
	}
	return &InvalidError{Param: "messages", Code: "context_length_exceeded", Message: msg}
}
