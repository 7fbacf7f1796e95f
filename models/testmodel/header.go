package testmodel

import (
	"fmt"
	"strings"

	"github.com/warden-llm/warden/engine/gguf"
)

// tensorSpec is one tensor to generate: a norm weight (all ones) or a
// random matrix.
type tensorSpec struct {
	info   gguf.TensorInfo
	random bool
}

// Header returns the metadata and tensor infos (without offsets) of the
// model s describes, in file order. With gguf.NewEncoder it gives the file
// layout and size without generating any weights.
func Header(s Spec) ([]gguf.KV, []gguf.TensorInfo, error) {
	kvs, err := metadata(s)
	if err != nil {
		return nil, nil, err
	}
	specs := tensorSpecs(s)
	infos := make([]gguf.TensorInfo, len(specs))
	for i, t := range specs {
		infos[i] = t.info
	}
	return kvs, infos, nil
}

func metadata(s Spec) ([]gguf.KV, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	v, err := buildVocab(s.Vocab)
	if err != nil {
		return nil, err
	}
	u32 := func(n int) gguf.Value { return gguf.Scalar(uint32(n)) }
	eos := eosID
	if strings.Contains(s.ChatTemplate, "<|im_end|>") {
		eos = imEndID // ChatML ends each turn with <|im_end|>
	}
	kvs := []gguf.KV{
		{Key: "general.architecture", Value: gguf.Scalar("llama")},
		{Key: "general.name", Value: gguf.Scalar(s.Name)},
		{Key: "general.file_type", Value: gguf.Scalar(fileType(s.Type))},
		{Key: gguf.KeyAlignment, Value: u32(gguf.DefaultAlignment)},
		{Key: "llama.vocab_size", Value: u32(s.Vocab)},
		{Key: "llama.context_length", Value: u32(s.Context)},
		{Key: "llama.embedding_length", Value: u32(s.Embd)},
		{Key: "llama.block_count", Value: u32(s.Layers)},
		{Key: "llama.feed_forward_length", Value: u32(s.FFN)},
		{Key: "llama.rope.dimension_count", Value: u32(s.Embd / s.Heads)},
		{Key: "llama.attention.head_count", Value: u32(s.Heads)},
		{Key: "llama.attention.head_count_kv", Value: u32(s.HeadsKV)},
		{Key: "llama.attention.layer_norm_rms_epsilon", Value: gguf.Scalar(float32(1e-5))},
		{Key: "llama.rope.freq_base", Value: gguf.Scalar(float32(10000))},
		{Key: "tokenizer.ggml.model", Value: gguf.Scalar("llama")},
		{Key: "tokenizer.ggml.tokens", Value: gguf.Array(v.tokens)},
		{Key: "tokenizer.ggml.scores", Value: gguf.Array(v.scores)},
		{Key: "tokenizer.ggml.token_type", Value: gguf.Array(v.types)},
		{Key: "tokenizer.ggml.bos_token_id", Value: u32(bosID)},
		{Key: "tokenizer.ggml.eos_token_id", Value: u32(eos)},
		{Key: "tokenizer.ggml.unknown_token_id", Value: u32(unkID)},
		{Key: "tokenizer.ggml.add_bos_token", Value: gguf.Scalar(true)},
		{Key: "tokenizer.ggml.add_eos_token", Value: gguf.Scalar(false)},
		{Key: "tokenizer.ggml.add_space_prefix", Value: gguf.Scalar(true)},
	}
	if s.ChatTemplate != "" {
		kvs = append(kvs, gguf.KV{Key: "tokenizer.chat_template", Value: gguf.Scalar(s.ChatTemplate)})
	}
	return kvs, nil
}

// tensorSpecs lists the tensors of a llama model in file order. Shapes are
// in ggml order (row length first). s must be valid.
func tensorSpecs(s Spec) []tensorSpec {
	embd, ffn, vocab := uint64(s.Embd), uint64(s.FFN), uint64(s.Vocab)
	kv := embd / uint64(s.Heads) * uint64(s.HeadsKV)
	norm := func(name string) tensorSpec {
		return tensorSpec{info: gguf.TensorInfo{Name: name, Type: gguf.TypeF32, Dims: []uint64{embd}}}
	}
	matrix := func(name string, cols, rows uint64) tensorSpec {
		return tensorSpec{info: gguf.TensorInfo{Name: name, Type: s.Type, Dims: []uint64{cols, rows}}, random: true}
	}
	ts := []tensorSpec{
		matrix("token_embd.weight", embd, vocab),
		norm("output_norm.weight"),
		matrix("output.weight", embd, vocab),
	}
	for i := range s.Layers {
		blk := func(name string) string { return fmt.Sprintf("blk.%d.%s.weight", i, name) }
		ts = append(ts,
			norm(blk("attn_norm")),
			matrix(blk("attn_q"), embd, embd),
			matrix(blk("attn_k"), embd, kv),
			matrix(blk("attn_v"), embd, kv),
			matrix(blk("attn_output"), embd, embd),
			norm(blk("ffn_norm")),
			matrix(blk("ffn_gate"), embd, ffn),
			matrix(blk("ffn_up"), embd, ffn),
			matrix(blk("ffn_down"), ffn, embd),
		)
	}
	return ts
}
