package server

import (
	"math"
	"slices"

	"github.com/warden-llm/warden/engine"
)

// Log probabilities in OpenAI's two shapes: per token objects for chat,
// parallel lists for the legacy completions.

type chatLogprobs struct {
	Content []tokenLogprob `json:"content"`
	Refusal []tokenLogprob `json:"refusal"`
}

type tokenLogprob struct {
	topLogprob
	TopLogprobs []topLogprob `json:"top_logprobs"`
}

type topLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

type textLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float64            `json:"token_logprobs"`
	TopLogprobs   []map[string]float64 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

// logprobBuffer collects what the engine reports, for the next chunk or
// the whole reply. A nil buffer collects nothing.
type logprobBuffer struct {
	tokens []engine.TokenLogprob
}

func newLogprobBuffer(on bool) *logprobBuffer {
	if !on {
		return nil
	}
	return &logprobBuffer{}
}

// request asks the engine for log probabilities when b collects them.
func (b *logprobBuffer) request(req engine.Request) engine.Request {
	if b != nil {
		req.Logprobs = func(lp []engine.TokenLogprob) { b.tokens = append(b.tokens, lp...) }
	}
	return req
}

// take returns what was collected since the last take.
func (b *logprobBuffer) take() []engine.TokenLogprob {
	if b == nil {
		return nil
	}
	t := b.tokens
	b.tokens = nil
	return t
}

// chatLogprobsOf renders tokens for a chat choice. Every token has a
// top_logprobs list, empty unless top_logprobs asked for alternatives, as
// OpenAI sends it.
func chatLogprobsOf(tokens []engine.TokenLogprob) *chatLogprobs {
	out := &chatLogprobs{Content: make([]tokenLogprob, len(tokens))}
	for i, t := range tokens {
		out.Content[i] = tokenLogprob{topLogprob: wireLogprob(t), TopLogprobs: make([]topLogprob, len(t.Top))}
		for j, alt := range t.Top {
			out.Content[i].TopLogprobs[j] = wireLogprob(alt)
		}
	}
	return out
}

func wireLogprob(t engine.TokenLogprob) topLogprob {
	b := make([]int, len(t.Token))
	for i := range len(t.Token) {
		b[i] = int(t.Token[i])
	}
	return topLogprob{Token: t.Token, Logprob: finite(t.Logprob), Bytes: b}
}

// textLogprobsOf renders tokens for a text choice; offset is where the
// first token's text starts in the choice's text.
func textLogprobsOf(tokens []engine.TokenLogprob, offset int) *textLogprobs {
	out := &textLogprobs{
		Tokens:        make([]string, len(tokens)),
		TokenLogprobs: make([]float64, len(tokens)),
		TopLogprobs:   make([]map[string]float64, len(tokens)),
		TextOffset:    make([]int, len(tokens)),
	}
	for i, t := range tokens {
		out.Tokens[i], out.TokenLogprobs[i], out.TextOffset[i] = t.Token, finite(t.Logprob), offset
		offset += len(t.Token)
		top := make(map[string]float64, len(t.Top))
		for _, alt := range slices.Backward(t.Top) { // the likelier of two equal texts wins
			top[alt.Token] = finite(alt.Logprob)
		}
		out.TopLogprobs[i] = top
	}
	return out
}

// finite keeps JSON encodable a token the model deems impossible, which
// grammar-constrained sampling can still pick: -9999 is OpenAI's floor.
func finite(lp float32) float64 {
	if math.IsInf(float64(lp), 0) || math.IsNaN(float64(lp)) || lp < -9999 {
		return -9999
	}
	return float64(lp)
}
