// Package testmodel generates deterministic llama-architecture GGUF models
// with random weights, for testing inference code without downloading real
// models. The output depends only on the Spec (seed included): the same
// spec gives byte-for-byte the same file on every platform and at any
// degree of parallelism.
//
// The models carry a small real SentencePiece-style vocabulary (see
// BaseVocabSize) that llama.cpp's SPM tokenizer handles, so common English
// words tokenize to single tokens, and can embed a chat template.
package testmodel

import (
	"errors"
	"fmt"
	"strings"

	"github.com/warden-llm/warden/engine/gguf"
)

// ChatMLTemplate is the Jinja chat template of ChatML models, as embedded
// by the presets.
const ChatMLTemplate = `{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`

// Spec describes a model to generate.
type Spec struct {
	Name    string // general.name
	Embd    int    // embedding length
	Layers  int    // transformer blocks
	Heads   int    // attention heads
	HeadsKV int    // key/value heads (grouped-query attention when < Heads)
	FFN     int    // feed-forward length
	Vocab   int    // vocabulary size, at least BaseVocabSize(); padded with filler words
	Context int    // training context length
	// Type is the element type of the 2-D weight matrices: TypeF32, TypeF16,
	// TypeQ8_0 or TypeQ4_0. Norm weights are always F32.
	Type gguf.GGMLType
	Seed uint64
	// ChatTemplate is written as tokenizer.chat_template when non-empty.
	ChatTemplate string
}

// Limits keep specs to shapes that are plausible and whose sizes cannot
// overflow.
const (
	maxEmbd    = 1 << 16
	maxLayers  = 1 << 9
	maxFFN     = 1 << 18
	maxVocab   = 1 << 20
	maxContext = 1 << 24
)

// Demo returns a tiny model that loads and runs in milliseconds: about
// 0.7 MB at Q8_0, ChatML template. Its head dimension is 64, the smallest
// that every llama.cpp backend's flash-attention kernels support.
func Demo() Spec {
	return Spec{
		Name:         "warden-demo",
		Embd:         128,
		Layers:       2,
		Heads:        2,
		HeadsKV:      1,
		FFN:          256,
		Vocab:        (BaseVocabSize() + 31) / 32 * 32,
		Context:      2048,
		Type:         gguf.TypeQ8_0,
		Seed:         1,
		ChatTemplate: ChatMLTemplate,
	}
}

// TinyLlama returns a model with the shape of TinyLlama-1.1B at Q4_0
// (about 600 MB), for realistic memory and speed tests.
func TinyLlama() Spec {
	return Spec{
		Name:         "warden-tinyllama-1.1b",
		Embd:         2048,
		Layers:       22,
		Heads:        32,
		HeadsKV:      4,
		FFN:          5632,
		Vocab:        32000,
		Context:      2048,
		Type:         gguf.TypeQ4_0,
		Seed:         1,
		ChatTemplate: ChatMLTemplate,
	}
}

// ParseType maps a type name ("f32", "f16", "q8_0", "q4_0", any case) to the
// matching weight type.
func ParseType(name string) (gguf.GGMLType, error) {
	for _, t := range []gguf.GGMLType{gguf.TypeF32, gguf.TypeF16, gguf.TypeQ8_0, gguf.TypeQ4_0} {
		if strings.EqualFold(name, t.String()) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unsupported weight type %q (want f32, f16, q8_0 or q4_0)", name)
}

// fileType is the general.file_type (llama_ftype) of a model whose matrices
// have type t.
func fileType(t gguf.GGMLType) uint32 {
	switch t {
	case gguf.TypeF16:
		return 1
	case gguf.TypeQ4_0:
		return 2
	case gguf.TypeQ8_0:
		return 7
	}
	return 0 // all F32
}

// Validate reports every problem with s's shape.
func (s Spec) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	inRange := func(name string, v, lo, hi int) {
		check(v >= lo && v <= hi, "%s %d out of range [%d, %d]", name, v, lo, hi)
	}
	check(s.Name != "", "empty name")
	inRange("Embd", s.Embd, 1, maxEmbd)
	inRange("Layers", s.Layers, 1, maxLayers)
	inRange("Heads", s.Heads, 1, maxEmbd)
	inRange("HeadsKV", s.HeadsKV, 1, maxEmbd)
	inRange("FFN", s.FFN, 1, maxFFN)
	inRange("Vocab", s.Vocab, BaseVocabSize(), maxVocab)
	inRange("Context", s.Context, 1, maxContext)
	if s.Heads >= 1 && s.HeadsKV >= 1 {
		check(s.Embd%s.Heads == 0, "Embd %d not divisible by Heads %d", s.Embd, s.Heads)
		check(s.Heads%s.HeadsKV == 0, "Heads %d not divisible by HeadsKV %d", s.Heads, s.HeadsKV)
		// RoPE rotates pairs of dimensions.
		check(s.Embd%s.Heads != 0 || s.Embd/s.Heads%2 == 0, "head dimension %d is odd", s.Embd/s.Heads)
	}
	switch s.Type {
	case gguf.TypeF32, gguf.TypeF16:
	case gguf.TypeQ8_0, gguf.TypeQ4_0:
		// Quantization blocks run along rows, whose lengths are Embd and FFN.
		bs := s.Type.BlockSize()
		check(s.Embd%bs == 0, "Embd %d not a multiple of the %v block size %d", s.Embd, s.Type, bs)
		check(s.FFN%bs == 0, "FFN %d not a multiple of the %v block size %d", s.FFN, s.Type, bs)
	default:
		check(false, "unsupported weight type %v", s.Type)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid model spec %q: %w", s.Name, err)
	}
	return nil
}
