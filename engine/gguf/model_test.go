package gguf_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/warden-llm/warden/engine/gguf"
	"github.com/warden-llm/warden/models/testmodel"
)

// modelFile is a model header with its tensor infos, edited by a test case
// and then encoded.
type modelFile struct {
	kvs     []gguf.KV
	tensors []gguf.TensorInfo
}

func demoModel(t *testing.T) modelFile {
	t.Helper()
	kvs, tensors, err := testmodel.Header(testmodel.Demo())
	if err != nil {
		t.Fatal(err)
	}
	return modelFile{kvs, tensors}
}

// set replaces the value of key, or appends the pair.
func (m *modelFile) set(key string, v gguf.Value) {
	for i := range m.kvs {
		if m.kvs[i].Key == key {
			m.kvs[i].Value = v
			return
		}
	}
	m.kvs = append(m.kvs, gguf.KV{Key: key, Value: v})
}

func (m *modelFile) drop(key string) {
	m.kvs = slices.DeleteFunc(m.kvs, func(kv gguf.KV) bool { return kv.Key == key })
}

func (m *modelFile) tensor(name string) *gguf.TensorInfo {
	for i := range m.tensors {
		if m.tensors[i].Name == name {
			return &m.tensors[i]
		}
	}
	panic("no tensor " + name)
}

func (m *modelFile) dropTensor(name string) {
	m.tensors = slices.DeleteFunc(m.tensors, func(t gguf.TensorInfo) bool { return t.Name == name })
}

// tokens returns a copy of the vocabulary to edit.
func (m *modelFile) tokens() []string {
	for _, kv := range m.kvs {
		if kv.Key == gguf.KeyTokens {
			return slices.Clone(kv.Value.Any().([]string))
		}
	}
	panic("no tokens")
}

// encode writes the file with zero weights and returns its header and
// size; zeroes stands in for the data (see headerReader).
func (m modelFile) encode(t *testing.T) headerReader {
	t.Helper()
	enc, err := gguf.NewEncoder(m.kvs, m.tensors)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	var head bytes.Buffer
	w := &limitedWriter{w: &head, left: enc.DataOffset()}
	zeros := func(i int, w io.Writer) error {
		_, err := w.Write(make([]byte, enc.Tensors()[i].Size))
		return err
	}
	if err := enc.Encode(w, zeros); err != nil {
		t.Fatal(err)
	}
	return headerReader{head: head.Bytes(), size: enc.Size()}
}

// limitedWriter keeps the first left bytes and counts the rest.
type limitedWriter struct {
	w    io.Writer
	left int64
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	keep := min(int64(len(p)), max(l.left, 0))
	l.left -= keep
	if _, err := l.w.Write(p[:keep]); err != nil {
		return 0, err
	}
	return len(p), nil
}

// headerReader is a GGUF file whose data section is all zeros, without
// holding the zeros.
type headerReader struct {
	head []byte
	size int64
}

func (h headerReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= h.size {
		return 0, io.EOF
	}
	n := 0
	if off < int64(len(h.head)) {
		n = copy(p, h.head[off:])
	}
	for ; n < len(p) && off+int64(n) < h.size; n++ {
		p[n] = 0
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h headerReader) read() (*gguf.File, error) { return gguf.ReadModel(h, h.size) }

func u32(n uint32) gguf.Value { return gguf.Scalar(n) }

// TestCheckModel edits the demo model, one llama.cpp requirement broken
// per case, and checks that ReadModel names each. The comments say what
// llama.cpp does with such a file.
func TestCheckModel(t *testing.T) {
	tests := []struct {
		name string
		edit func(m *modelFile)
		want string // "" marks a file llama.cpp loads
	}{
		{"demo model", func(m *modelFile) {}, ""},
		{"tied output", func(m *modelFile) { m.dropTensor("output.weight") }, ""},
		{"rope frequencies", func(m *modelFile) {
			m.tensors = append(m.tensors, gguf.TensorInfo{Name: "rope_freqs.weight", Type: gguf.TypeF32, Dims: []uint64{32}})
		}, ""},
		{"per-layer head counts", func(m *modelFile) {
			m.set("llama.attention.head_count", gguf.Array([]uint32{2, 2}))
			m.set("llama.attention.head_count_kv", gguf.Array([]int32{1, 1}))
		}, ""},

		// Architecture: throws "unknown model architecture".
		{"no architecture", func(m *modelFile) { m.drop("general.architecture") }, "no general.architecture"},
		{"unknown architecture", func(m *modelFile) { m.set("general.architecture", gguf.Scalar("llama9")) },
			`general.architecture "llama9" is not an architecture this llama.cpp knows`},
		{"clip architecture", func(m *modelFile) { m.set("general.architecture", gguf.Scalar("clip")) }, `"clip" is not an architecture`},
		{"architecture not a string", func(m *modelFile) { m.set("general.architecture", u32(1)) }, "general.architecture is UINT32, want STRING"},

		// Hyperparameters.
		{"context length 0", func(m *modelFile) { m.set("llama.context_length", u32(0)) }, "llama.context_length is 0"},
		{"no context length", func(m *modelFile) { m.drop("llama.context_length") }, "no llama.context_length"},
		{"context length UINT64", func(m *modelFile) { m.set("llama.context_length", gguf.Scalar(uint64(2048))) },
			"llama.context_length is UINT64, want UINT32"},
		{"block count 0", func(m *modelFile) { m.set("llama.block_count", u32(0)) }, "llama.block_count is 0, want 1 to 512"},
		{"block count 513", func(m *modelFile) { m.set("llama.block_count", u32(513)) }, "llama.block_count is 513, want 1 to 512"},
		{"absurd block count", func(m *modelFile) { m.set("llama.block_count", u32(1<<31)) }, "llama.block_count is 2147483648"},
		{"block count above tensors", func(m *modelFile) { m.set("llama.block_count", u32(3)) }, `tensor "blk.2.attn_k.weight" is missing`},
		{"embedding length 0", func(m *modelFile) { m.set("llama.embedding_length", u32(0)) }, "llama.embedding_length is 0, want 1 to"},
		{"embedding length absurd", func(m *modelFile) { m.set("llama.embedding_length", u32(1<<30)) }, "llama.embedding_length is 1073741824"},
		{"embedding length unlike tensors", func(m *modelFile) {
			m.set("llama.embedding_length", u32(256))
			m.drop("llama.rope.dimension_count")
		}, `has shape [128 `},
		{"embedding length unlike rope", func(m *modelFile) { m.set("llama.embedding_length", u32(256)) },
			"llama.rope.dimension_count is 64, want the head size 128"},
		{"more kv heads than heads", func(m *modelFile) { m.set("llama.attention.head_count_kv", u32(3)) },
			"llama.attention.head_count_kv 3 exceeds llama.attention.head_count 2 in layer 0"},
		{"kv heads not dividing heads", func(m *modelFile) {
			m.set("llama.attention.head_count", u32(4))
			m.set("llama.attention.head_count_kv", u32(3))
		}, "llama.attention.head_count_kv 3 does not divide llama.attention.head_count 4"},
		{"absurd head count", func(m *modelFile) { m.set("llama.attention.head_count", u32(1<<20)) }, "more than 65536"},
		{"head count FLOAT32 array", func(m *modelFile) { m.set("llama.attention.head_count", gguf.Array([]float32{2, 2})) },
			"llama.attention.head_count is ARRAY of FLOAT32, want UINT32 or an ARRAY of UINT32 or INT32"},
		{"head count STRING array", func(m *modelFile) { m.set("llama.attention.head_count", gguf.Array([]string{"2", "2"})) },
			"llama.attention.head_count is ARRAY of STRING"},
		{"head count INT64", func(m *modelFile) { m.set("llama.attention.head_count", gguf.Scalar(int64(2))) },
			"llama.attention.head_count is INT64"},
		{"head count array too short", func(m *modelFile) { m.set("llama.attention.head_count", gguf.Array([]uint32{2})) },
			"llama.attention.head_count has 1 entries for 2 layers"},
		{"negative kv heads", func(m *modelFile) { m.set("llama.attention.head_count_kv", gguf.Array([]int32{1, -1})) },
			"llama.attention.head_count_kv is -1 in layer 1"},
		{"no head count", func(m *modelFile) {
			m.drop("llama.attention.head_count")
			m.drop("llama.attention.head_count_kv")
		}, "no llama.attention.head_count"},
		{"no feed-forward length", func(m *modelFile) { m.drop("llama.feed_forward_length") }, "no llama.feed_forward_length"},
		{"no norm epsilon", func(m *modelFile) { m.drop("llama.attention.layer_norm_rms_epsilon") }, "no llama.attention.layer_norm_rms_epsilon"},
		{"norm epsilon FLOAT64", func(m *modelFile) { m.set("llama.attention.layer_norm_rms_epsilon", gguf.Scalar(1e-5)) },
			"llama.attention.layer_norm_rms_epsilon is FLOAT64, want FLOAT32"},
		{"rope dimensions unlike head size", func(m *modelFile) { m.set("llama.rope.dimension_count", u32(32)) },
			"llama.rope.dimension_count is 32, want the head size 64"},
		{"unknown rope scaling", func(m *modelFile) { m.set("llama.rope.scaling.type", gguf.Scalar("bogus")) },
			`llama.rope.scaling.type "bogus" is not none, linear, yarn or longrope`},
		{"too many experts", func(m *modelFile) { m.set("llama.expert_count", u32(513)) }, "llama.expert_count is 513, more than 512"},
		{"used experts without experts", func(m *modelFile) { m.set("llama.expert_used_count", u32(2)) },
			"llama.expert_used_count 2 exceeds llama.expert_count 0"},
		{"experts none used", func(m *modelFile) { m.set("llama.expert_count", u32(4)) }, "llama.expert_used_count is 0 with 4 experts"},
		{"expert groups without experts", func(m *modelFile) { m.set("llama.expert_group_count", u32(2)) },
			"llama.expert_group_count is 2 without experts"},
		{"as many groups as experts", func(m *modelFile) {
			m.set("llama.expert_count", u32(4))
			m.set("llama.expert_used_count", u32(1))
			m.set("llama.expert_group_count", u32(4))
		}, "llama.expert_group_count 4 is not below llama.expert_count 4"},
		{"groups not dividing experts", func(m *modelFile) {
			m.set("llama.expert_count", u32(5))
			m.set("llama.expert_used_count", u32(1))
			m.set("llama.expert_group_count", u32(2))
		}, "llama.expert_group_count 2 does not divide llama.expert_count 5"},
		{"no groups used", func(m *modelFile) {
			m.set("llama.expert_count", u32(4))
			m.set("llama.expert_used_count", u32(1))
			m.set("llama.expert_group_count", u32(2))
		}, "llama.expert_group_used_count is 0, want 1 to 1"},

		// Other metadata.
		{"array of arrays", func(m *modelFile) {
			m.set("general.tags", gguf.ArrayOfArrays([]gguf.Value{gguf.Array([]uint8{1})}))
		}, "general.tags is an ARRAY of ARRAY"},
		{"name not a string", func(m *modelFile) { m.set("general.name", u32(1)) }, "general.name is UINT32, want STRING"},
		{"file type INT32", func(m *modelFile) { m.set("general.file_type", gguf.Scalar(int32(7))) }, "general.file_type is INT32, want UINT32"},
		{"split model", func(m *modelFile) { m.set("split.count", gguf.Scalar(uint16(2))) }, "split.count is 2: split models are not supported"},
		{"split count UINT32", func(m *modelFile) { m.set("split.count", u32(1)) }, "split.count is UINT32, want UINT16"},

		// Vocabulary.
		{"no tokenizer model", func(m *modelFile) { m.drop("tokenizer.ggml.model") }, "no tokenizer.ggml.model"},
		{"unknown tokenizer", func(m *modelFile) { m.set("tokenizer.ggml.model", gguf.Scalar("sentencepiece")) },
			`tokenizer.ggml.model "sentencepiece" is not a tokenizer this llama.cpp knows`},
		{"gpt2 without merges", func(m *modelFile) { m.set("tokenizer.ggml.model", gguf.Scalar("gpt2")) },
			"tokenizer.ggml.model is gpt2 but there is no tokenizer.ggml.merges"},
		{"no tokens", func(m *modelFile) {
			m.drop(gguf.KeyTokens)
			m.drop(gguf.KeyScores)
			m.drop(gguf.KeyTokenType)
		}, "no tokenizer.ggml.tokens"},
		{"repeated token", func(m *modelFile) {
			toks := m.tokens()
			toks[7] = toks[6]
			m.set(gguf.KeyTokens, gguf.Array(toks))
		}, "tokenizer.ggml.tokens repeats token"},
		{"empty token named like another", func(m *modelFile) {
			toks := m.tokens()
			toks[5], toks[6] = "", "[EMPTY_5]"
			m.set(gguf.KeyTokens, gguf.Array(toks))
		}, `repeats token "[EMPTY_5]" at 5 and 6`},
		{"charsmap a string", func(m *modelFile) { m.set("tokenizer.ggml.precompiled_charsmap", gguf.Scalar("x")) },
			"tokenizer.ggml.precompiled_charsmap is STRING, want an ARRAY of numbers"},
		{"bos id INT32", func(m *modelFile) { m.set("tokenizer.ggml.bos_token_id", gguf.Scalar(int32(1))) },
			"tokenizer.ggml.bos_token_id is INT32, want UINT32"},
		{"add bos not a bool", func(m *modelFile) { m.set("tokenizer.ggml.add_bos_token", u32(1)) },
			"tokenizer.ggml.add_bos_token is UINT32, want BOOL"},

		// Tensors: load_tensors throws on each.
		{"missing tensor", func(m *modelFile) { m.dropTensor("output_norm.weight") }, `tensor "output_norm.weight" is missing`},
		{"extra tensor", func(m *modelFile) {
			m.tensors = append(m.tensors, gguf.TensorInfo{Name: "blk.0.extra.weight", Type: gguf.TypeF32, Dims: []uint64{4}})
		}, `tensor "blk.0.extra.weight" is not part of a llama model`},
		{"tensor of a missing layer", func(m *modelFile) {
			m.tensors = append(m.tensors, gguf.TensorInfo{Name: "blk.2.attn_norm.weight", Type: gguf.TypeF32, Dims: []uint64{128}})
		}, `tensor "blk.2.attn_norm.weight" is not part of a llama model`},
		{"transposed matrix", func(m *modelFile) { m.tensor("blk.0.ffn_down.weight").Dims = []uint64{128, 256} },
			`tensor "blk.0.ffn_down.weight" has shape [128 256], want [256 128]`},
		{"vocabulary unlike embeddings", func(m *modelFile) { m.tensor("token_embd.weight").Dims[1] -= 32 },
			`tensor "token_embd.weight" has shape`},
		{"extra dimension", func(m *modelFile) { m.tensor("output_norm.weight").Dims = []uint64{128, 2} },
			`tensor "output_norm.weight" has shape [128 2], want [128]`},
		{"trailing unit dimension", func(m *modelFile) { m.tensor("output_norm.weight").Dims = []uint64{128, 1} }, ""},
		{"F16 norm", func(m *modelFile) { m.tensor("output_norm.weight").Type = gguf.TypeF16 },
			`tensor "output_norm.weight" is a vector of type F16, want F32`},
		{"integer matrix", func(m *modelFile) { m.tensor("blk.0.attn_q.weight").Type = gguf.TypeI32 },
			`tensor "blk.0.attn_q.weight" has type I32, which ggml cannot multiply`},
		{"Q8_K matrix", func(m *modelFile) {
			m.tensor("blk.0.ffn_down.weight").Type = gguf.TypeQ8_K
		}, `tensor "blk.0.ffn_down.weight" has type Q8_K`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := demoModel(t)
			tt.edit(&m)
			_, err := m.encode(t).read()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			var me *gguf.ModelError
			if !errors.As(err, &me) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q is not a ModelError containing %q", err, tt.want)
			}
		})
	}
}

// TestCheckModelPasses: the presets of the test-model writer and the real
// models in ../shared/models pass, so the check refuses nothing llama.cpp
// loads among them.
func TestCheckModelPasses(t *testing.T) {
	for _, s := range []testmodel.Spec{testmodel.Demo(), testmodel.TinyLlama()} {
		kvs, tensors, err := testmodel.Header(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (modelFile{kvs, tensors}).encode(t).read(); err != nil {
			t.Errorf("preset %s: %v", s.Name, err)
		}
	}
	dir := os.Getenv("WARDEN_TEST_MODELS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "models")
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.gguf"))
	if len(paths) == 0 {
		t.Skipf("the presets pass; no real models in %s to check (set WARDEN_TEST_MODELS)", dir)
	}
	for _, p := range paths {
		if _, err := gguf.OpenModel(p); err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
	}
}

// TestEmptyKeyNeverReachesLlamaCpp: an empty key makes ggml abort the
// process, so the reader refuses it in a file that is otherwise a valid
// model, and the encoder refuses to write one.
func TestEmptyKeyNeverReachesLlamaCpp(t *testing.T) {
	h := demoModel(t).encode(t)
	bad := withEmptyKey(h.head)
	_, err := gguf.ReadModel(headerReader{head: bad, size: h.size + 32}, h.size+32)
	var fe *gguf.FormatError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "empty metadata key") {
		t.Fatalf("empty key: got %v, want a FormatError about it", err)
	}
	if _, err := gguf.NewEncoder([]gguf.KV{{Key: "", Value: u32(1)}}, nil); err == nil {
		t.Error("the encoder wrote an empty key")
	}
}

// withEmptyKey inserts a 32-byte pair with an empty key (a 12-byte STRING
// value) before the first pair of a GGUF file. 32 bytes keep the data
// section aligned, and tensor offsets are relative to it, so the file stays
// valid apart from the key.
func withEmptyKey(file []byte) []byte {
	le := binary.LittleEndian
	kv := le.AppendUint64(nil, 0)
	kv = le.AppendUint32(kv, uint32(gguf.ValueString))
	kv = le.AppendUint64(kv, 12)
	kv = append(kv, "empty-key!!!"...)
	out := slices.Concat(file[:24], kv, file[24:])
	le.PutUint64(out[16:24], le.Uint64(out[16:24])+1)
	return out
}
