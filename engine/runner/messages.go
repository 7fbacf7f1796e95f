package runner

import (
	"context"
	"errors"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/chat"
)

// helloMsg is the child's first frame.
type helloMsg struct {
	Version int `json:"version"`
	PID     int `json:"pid"`
}

// readyMsg answers load: the model is loaded (Err nil) or could not be.
type readyMsg struct {
	Err        *wireError              `json:"error,omitempty"`
	Info       engine.ModelInfo        `json:"info"`
	CPUThreads int                     `json:"cpu_threads"`
	CPUKernels engine.CPUKernels       `json:"cpu_kernels"`
	Sandbox    []engine.SandboxMeasure `json:"sandbox"`
	// Probe is what a test build's probe hook found (see probe_wardentest.go).
	Probe map[string]string `json:"probe,omitempty"`
}

// generateMsg is engine.Request without its callback: Logprobs says
// whether to send the log probabilities back.
type generateMsg struct {
	Messages    []chat.Message  `json:"messages,omitempty"`
	Tools       []chat.Tool     `json:"tools,omitempty"`
	Prompt      string          `json:"prompt,omitempty"`
	Sampling    engine.Sampling `json:"sampling"`
	Format      engine.Format   `json:"format"`
	MaxTokens   int             `json:"max_tokens,omitempty"`
	Stop        []string        `json:"stop,omitempty"`
	IgnoreEOS   bool            `json:"ignore_eos,omitempty"`
	Logprobs    bool            `json:"logprobs,omitempty"`
	TopLogprobs int             `json:"top_logprobs,omitempty"`
}

func toGenerateMsg(r engine.Request) generateMsg {
	return generateMsg{Messages: r.Messages, Tools: r.Tools, Prompt: r.Prompt, Sampling: r.Sampling, Format: r.Format,
		MaxTokens: r.MaxTokens, Stop: r.Stop, IgnoreEOS: r.IgnoreEOS, Logprobs: r.Logprobs != nil, TopLogprobs: r.TopLogprobs}
}

// request is the engine.Request g describes; the caller supplies the
// log-probability callback when g asks for one.
func (g generateMsg) request(logprobs func([]engine.TokenLogprob)) engine.Request {
	r := engine.Request{Messages: g.Messages, Tools: g.Tools, Prompt: g.Prompt, Sampling: g.Sampling, Format: g.Format,
		MaxTokens: g.MaxTokens, Stop: g.Stop, IgnoreEOS: g.IgnoreEOS, TopLogprobs: g.TopLogprobs}
	if g.Logprobs {
		r.Logprobs = logprobs
	}
	return r
}

// wireLogprob is engine.TokenLogprob with the token as bytes: a token may
// be part of a character, which a JSON string would not keep.
type wireLogprob struct {
	Token   []byte        `json:"t"`
	Logprob float32       `json:"l"`
	Top     []wireLogprob `json:"top,omitempty"`
}

func toWireLogprobs(lps []engine.TokenLogprob) []wireLogprob {
	if lps == nil {
		return nil
	}
	out := make([]wireLogprob, len(lps))
	for i, lp := range lps {
		out[i] = wireLogprob{Token: []byte(lp.Token), Logprob: lp.Logprob, Top: toWireLogprobs(lp.Top)}
	}
	return out
}

func fromWireLogprobs(lps []wireLogprob) []engine.TokenLogprob {
	if lps == nil {
		return nil
	}
	out := make([]engine.TokenLogprob, len(lps))
	for i, lp := range lps {
		out[i] = engine.TokenLogprob{Token: string(lp.Token), Logprob: lp.Logprob, Top: fromWireLogprobs(lp.Top)}
	}
	return out
}

// doneMsg ends a generation.
type doneMsg struct {
	Result engine.Result `json:"result"`
	Err    *wireError    `json:"error,omitempty"`
}

// replyMsg answers embed, count and stats.
type replyMsg struct {
	Err        *wireError         `json:"error,omitempty"`
	Embeddings []engine.Embedding `json:"embeddings,omitempty"`
	Tokens     int                `json:"tokens,omitempty"`
	Stats      *engine.Stats      `json:"stats,omitempty"`
}

// wireError carries an engine error across, keeping what the server maps
// to a status: an invalid request with its parameter, a full queue, a
// closed model.
type wireError struct {
	Kind    string `json:"kind"`
	Param   string `json:"param,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

// sentinels are the engine errors that cross by name.
var sentinels = map[string]error{
	"closed":        engine.ErrClosed,
	"queue_full":    engine.ErrQueueFull,
	"queue_timeout": engine.ErrQueueTimeout,
	"canceled":      context.Canceled,
	"deadline":      context.DeadlineExceeded,
}

func toWireError(err error) *wireError {
	if err == nil {
		return nil
	}
	var inv *engine.InvalidError
	if errors.As(err, &inv) {
		return &wireError{Kind: "invalid", Param: inv.Param, Code: inv.Code, Message: inv.Message}
	}
	for name, s := range sentinels {
		if errors.Is(err, s) {
			return &wireError{Kind: name, Message: err.Error()}
		}
	}
	return &wireError{Message: err.Error()}
}

func (e *wireError) err() error {
	if e == nil {
		return nil
	}
	if e.Kind == "invalid" {
		return &engine.InvalidError{Param: e.Param, Code: e.Code, Message: e.Message}
	}
	if s, ok := sentinels[e.Kind]; ok {
		return s
	}
	return &EngineError{Message: e.Message}
}

// EngineError is an error the engine process reported that has no
// meaning of its own to the server (a failed load, a decode error).
type EngineError struct{ Message string }

func (e *EngineError) Error() string { return e.Message }
