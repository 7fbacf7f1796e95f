package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/engine"
)

// embedder is a served model that also produces embeddings.
type embedder interface {
	Embed(ctx context.Context, inputs []engine.EmbedInput) ([]engine.Embedding, error)
}

type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
	User           string          `json:"user"`
}

type embeddingList struct {
	Object string          `json:"object"`
	Data   []embeddingItem `json:"data"`
	Model  string          `json:"model"`
	Usage  embeddingUsage  `json:"usage"`
}

type embeddingItem struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float32, or a base64 string
}

type embeddingUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// embeddings serves POST /v1/embeddings.
func (s *Server) embeddings(c echo.Context) error {
	var body embeddingRequest
	if err := s.decodeBody(c, &body); err != nil {
		return err
	}
	m, release, err := s.acquire(c, body.Model)
	if err != nil {
		return err
	}
	defer release()
	inputs, err := body.inputs()
	if err != nil {
		return err
	}
	e, ok := m.(embedder)
	if !ok {
		return invalidParam("model", fmt.Sprintf("the model %q does not produce embeddings", body.Model))
	}
	x := exchangeOf(c)
	x.prompt = embeddingPrompt(inputs)
	vectors, err := e.Embed(c.Request().Context(), inputs)
	if err != nil {
		return err
	}
	out := embeddingList{Object: "list", Model: m.Info().Name, Data: make([]embeddingItem, len(vectors))}
	for i, v := range vectors {
		out.Data[i] = embeddingItem{Object: "embedding", Index: i, Embedding: body.encode(v.Vector)}
		out.Usage.PromptTokens += v.Tokens
	}
	out.Usage.TotalTokens = out.Usage.PromptTokens
	x.result = engine.Result{PromptTokens: out.Usage.PromptTokens}
	x.chargeTokens(out.Usage.PromptTokens)
	return c.JSON(http.StatusOK, out)
}

// inputs accepts what OpenAI does: a string, a list of strings, a list of
// token IDs, or a list of such lists.
func (r *embeddingRequest) inputs() ([]engine.EmbedInput, error) {
	switch r.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, invalidParam("encoding_format", `encoding_format must be "float" or "base64"`)
	}
	if r.Dimensions != nil {
		return nil, invalidParam("dimensions", "dimensions is not supported: vectors have the model's own size")
	}
	if len(r.User) > maxUserLen {
		return nil, invalidParam("user", fmt.Sprintf("user must be at most %d bytes", maxUserLen))
	}
	raw := bytes.TrimSpace(r.Input)
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []engine.EmbedInput{{Text: one}}, nil
	}
	var texts []string
	if json.Unmarshal(raw, &texts) == nil && len(texts) > 0 {
		in := make([]engine.EmbedInput, len(texts))
		for i, t := range texts {
			in[i] = engine.EmbedInput{Text: t}
		}
		return in, nil
	}
	var tokens []int
	if json.Unmarshal(raw, &tokens) == nil && len(tokens) > 0 {
		return []engine.EmbedInput{{Tokens: tokens}}, nil
	}
	var lists [][]int
	if json.Unmarshal(raw, &lists) == nil && len(lists) > 0 {
		in := make([]engine.EmbedInput, len(lists))
		for i, t := range lists {
			in[i] = engine.EmbedInput{Tokens: t}
			if in[i].Tokens == nil {
				in[i].Tokens = []int{}
			}
		}
		return in, nil
	}
	return nil, invalidParam("input", "input must be a string, a list of strings, a list of token IDs or a list of such lists, and not empty")
}

// encode gives a vector as JSON numbers, or as base64 of little-endian
// float32s, as OpenAI's encoding_format "base64" does.
func (r *embeddingRequest) encode(v []float32) any {
	if r.EncodingFormat != "base64" {
		return v
	}
	buf := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(buf)
}

// embeddingPrompt is what the audit log records of the inputs.
func embeddingPrompt(inputs []engine.EmbedInput) string {
	var b strings.Builder
	for _, in := range inputs {
		if in.Tokens != nil {
			fmt.Fprintf(&b, "%v\n", in.Tokens)
		} else {
			b.WriteString(in.Text)
			b.WriteString("\n")
		}
	}
	return b.String()
}
