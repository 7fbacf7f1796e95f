package llamacpp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/gguf"
)

// An embedding model that llama.cpp pools itself (BERT, mean pooling):
// Warden takes llama.cpp's pooled vector and refuses to generate.
func TestEmbedModelPooledByLlamaCpp(t *testing.T) {
	m := load(t, writeBERT(t), 2)
	if m.llamaPooling != poolMean {
		t.Fatalf("llama.cpp pools %s, want mean", m.llamaPooling)
	}
	ctx := context.Background()
	texts := []engine.EmbedInput{{Text: "the cat sat"}, {Text: "a dog ran"}, {Text: "the dog sat"}}
	alone, err := m.Embed(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range alone {
		if math.Abs(norm(e.Vector)-1) > 1e-4 || len(e.Vector) != 32 || e.Tokens != 5 { // [CLS] 3 words [SEP]
			t.Errorf("input %d: length %g, %d dimensions, %d tokens", i, norm(e.Vector), len(e.Vector), e.Tokens)
		}
	}
	if cosine(alone[0].Vector, alone[1].Vector) > 0.9999 {
		t.Error("different texts embed the same")
	}

	// Two callers at once share a batch; each gets its own sequence's vector.
	var wg sync.WaitGroup
	together := make([][]engine.Embedding, 2)
	errs := make([]error, 2)
	for i := range together {
		wg.Add(1)
		go func() {
			defer wg.Done()
			together[i], errs[i] = m.Embed(ctx, texts)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for _, got := range together {
		for i := range got {
			if cosine(got[i].Vector, alone[i].Vector) < 0.9999 {
				t.Errorf("input %d embeds differently when batched", i)
			}
		}
	}

	if _, _, err := generate(ctx, m, engine.Request{Prompt: "the cat"}); !errors.Is(err, engine.ErrEmbeddingOnly) {
		t.Errorf("generation on an embedding model: %v", err)
	}
}

// bertShape is the size of a BERT model writeBERTShape writes.
type bertShape struct {
	embd, ff, heads, layers, ctx int
	vocab                        int      // tokens in all, at least 104 + len(words)
	words                        []string // whole-word tokens, from ID 104 on
}

// tinyBERT is one layer, 32 wide, with a six-word vocabulary.
var tinyBERT = bertShape{embd: 32, ff: 64, heads: 2, layers: 1, ctx: 128, vocab: 110,
	words: []string{"the", "cat", "sat", "a", "dog", "ran"}}

// writeBERT writes a one-layer BERT with random weights, 32 wide, and a
// WordPiece vocabulary with BERT's special tokens at their usual IDs.
func writeBERT(t testing.TB) string {
	t.Helper()
	return writeBERTShape(t, tinyBERT)
}

// writeBERTShape writes a BERT of the given shape with random weights,
// the same for the same shape, with mean pooling.
func writeBERTShape(t testing.TB, shape bertShape) string {
	t.Helper()
	embd, ff, ctx := uint64(shape.embd), uint64(shape.ff), uint64(shape.ctx)
	vocab := make([]string, shape.vocab)
	types := make([]int32, len(vocab))
	for i := range vocab {
		vocab[i], types[i] = fmt.Sprintf("[unused%d]", i), 1
	}
	for id, s := range map[int]string{0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"} {
		vocab[id], types[id] = s, 3
	}
	for i, w := range shape.words {
		vocab[104+i] = "\u2581" + w // llama.cpp's WPM vocabulary marks word starts
	}
	kvs := []gguf.KV{
		{Key: "general.architecture", Value: gguf.Scalar("bert")},
		{Key: "bert.context_length", Value: gguf.Scalar(uint32(ctx))},
		{Key: "bert.embedding_length", Value: gguf.Scalar(uint32(embd))},
		{Key: "bert.feed_forward_length", Value: gguf.Scalar(uint32(ff))},
		{Key: "bert.block_count", Value: gguf.Scalar(uint32(shape.layers))},
		{Key: "bert.attention.head_count", Value: gguf.Scalar(uint32(shape.heads))},
		{Key: "bert.attention.layer_norm_epsilon", Value: gguf.Scalar(float32(1e-12))},
		{Key: "bert.attention.causal", Value: gguf.Scalar(false)},
		{Key: "bert.pooling_type", Value: gguf.Scalar(uint32(poolMean))},
		{Key: "tokenizer.ggml.model", Value: gguf.Scalar("bert")},
		{Key: "tokenizer.ggml.tokens", Value: gguf.Array(vocab)},
		{Key: "tokenizer.ggml.token_type", Value: gguf.Array(types)},
	}
	shapes := map[string][]uint64{
		"token_embd.weight":      {embd, uint64(len(vocab))},
		"position_embd.weight":   {embd, ctx},
		"token_embd_norm.weight": {embd}, "token_embd_norm.bias": {embd},
	}
	for b := range shape.layers {
		blk := fmt.Sprintf("blk.%d.", b)
		for _, n := range []string{"attn_q", "attn_k", "attn_v", "attn_output"} {
			shapes[blk+n+".weight"], shapes[blk+n+".bias"] = []uint64{embd, embd}, []uint64{embd}
		}
		for _, n := range []string{"attn_output_norm", "layer_output_norm"} {
			shapes[blk+n+".weight"], shapes[blk+n+".bias"] = []uint64{embd}, []uint64{embd}
		}
		shapes[blk+"ffn_up.weight"], shapes[blk+"ffn_up.bias"] = []uint64{embd, ff}, []uint64{ff}
		shapes[blk+"ffn_down.weight"], shapes[blk+"ffn_down.bias"] = []uint64{ff, embd}, []uint64{embd}
	}

	// In name order, so that the random weights go to the same tensors
	// on every run.
	var tensors []gguf.TensorInfo
	for _, name := range slices.Sorted(maps.Keys(shapes)) {
		tensors = append(tensors, gguf.TensorInfo{Name: name, Type: gguf.TypeF32, Dims: shapes[name]})
	}
	enc, err := gguf.NewEncoder(kvs, tensors)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bert.gguf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	err = enc.Encode(f, func(i int, w io.Writer) error {
		ti := enc.Tensors()[i]
		data := make([]float32, ti.Elements())
		for j := range data {
			data[j] = float32(rng.NormFloat64() * 0.2)
			if len(ti.Dims) == 1 && filepath.Ext(ti.Name) == ".weight" {
				data[j] = 1 // norm gains
			}
		}
		return binary.Write(w, binary.LittleEndian, data)
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}
