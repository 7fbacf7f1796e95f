package testmodel

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/warden-llm/warden/engine/gguf"
)

// demoSHA256 pins Demo() (seed 1): the output must not change across
// platforms or releases without notice.
const (
	demoSHA256 = "c5fd7651800b209c79d30c8d646c374119e04065cb800c064f8ba08f6fbba8d9"
	demoSize   = 732992
)

func generate(t *testing.T, s Spec) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, s); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestDemoGolden(t *testing.T) {
	data := generate(t, Demo())
	if got := sha(data); got != demoSHA256 || len(data) != demoSize {
		t.Errorf("Demo(): %d bytes, sha256 %s; want %d bytes, %s", len(data), got, demoSize, demoSHA256)
	}
}

// multiChunk is a small spec whose embedding matrices span several
// generation chunks, to cover chunk boundaries.
func multiChunk(typ gguf.GGMLType) Spec {
	s := Demo()
	s.Embd, s.Heads, s.HeadsKV, s.FFN = 256, 4, 2, 64
	s.Vocab = 2500 // 640000 elements: two full chunks and a partial one
	s.Type = typ
	return s
}

func TestDeterministic(t *testing.T) {
	for _, typ := range []gguf.GGMLType{gguf.TypeF32, gguf.TypeF16, gguf.TypeQ8_0, gguf.TypeQ4_0} {
		s := multiChunk(typ)
		var one, many bytes.Buffer
		if err := write(&one, s, 1); err != nil {
			t.Fatal(err)
		}
		if err := write(&many, s, 7); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(one.Bytes(), many.Bytes()) {
			t.Errorf("%v: output depends on the number of workers", typ)
		}
		s.Seed++
		if other := generate(t, s); sha(other) == sha(one.Bytes()) {
			t.Errorf("%v: seeds %d and %d give the same file", typ, s.Seed-1, s.Seed)
		}
	}
}

func TestModelContents(t *testing.T) {
	for _, s := range []Spec{Demo(), multiChunk(gguf.TypeQ4_0), multiChunk(gguf.TypeF16)} {
		data := generate(t, s)
		f, err := gguf.Read(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("%v: Read: %v", s.Type, err)
		}
		checkMetadata(t, f, s)
		checkTensors(t, f, s, data)
	}
}

func checkMetadata(t *testing.T, f *gguf.File, s Spec) {
	t.Helper()
	wantUint := map[string]uint64{
		"general.file_type":               uint64(fileType(s.Type)),
		"general.alignment":               32,
		"llama.vocab_size":                uint64(s.Vocab),
		"llama.context_length":            uint64(s.Context),
		"llama.embedding_length":          uint64(s.Embd),
		"llama.block_count":               uint64(s.Layers),
		"llama.feed_forward_length":       uint64(s.FFN),
		"llama.rope.dimension_count":      uint64(s.Embd / s.Heads),
		"llama.attention.head_count":      uint64(s.Heads),
		"llama.attention.head_count_kv":   uint64(s.HeadsKV),
		"tokenizer.ggml.bos_token_id":     bosID,
		"tokenizer.ggml.eos_token_id":     imEndID,
		"tokenizer.ggml.unknown_token_id": unkID,
	}
	for key, want := range wantUint {
		if got, ok := f.Uint(key); !ok || got != want {
			t.Errorf("%s = %d (present %v), want %d", key, got, ok, want)
		}
	}
	wantString := map[string]string{
		"general.architecture":    "llama",
		"general.name":            s.Name,
		"tokenizer.ggml.model":    "llama",
		"tokenizer.chat_template": ChatMLTemplate,
	}
	for key, want := range wantString {
		if got, ok := f.String(key); got != want {
			t.Errorf("%s = %q (present %v), want %q", key, got, ok, want)
		}
	}
	wantBool := map[string]bool{
		"tokenizer.ggml.add_bos_token":    true,
		"tokenizer.ggml.add_eos_token":    false,
		"tokenizer.ggml.add_space_prefix": true,
	}
	for key, want := range wantBool {
		if got, ok := f.Bool(key); !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
		}
	}
	if eps, ok := f.Float("llama.attention.layer_norm_rms_epsilon"); !ok || float32(eps) != 1e-5 {
		t.Errorf("rms epsilon = %v, %v", eps, ok)
	}
	if base, ok := f.Float("llama.rope.freq_base"); !ok || base != 10000 {
		t.Errorf("rope freq base = %v, %v", base, ok)
	}
	tokens, _ := f.Strings("tokenizer.ggml.tokens")
	scores, _ := f.Lookup("tokenizer.ggml.scores")
	types, _ := f.Lookup("tokenizer.ggml.token_type")
	if len(tokens) != s.Vocab || len(scores.Any().([]float32)) != s.Vocab || len(types.Any().([]int32)) != s.Vocab {
		t.Errorf("tokenizer arrays: %d tokens, scores %v, types %v; want %d each",
			len(tokens), scores.Type(), types.Type(), s.Vocab)
	}
}

func checkTensors(t *testing.T, f *gguf.File, s Spec, data []byte) {
	t.Helper()
	e, ffn, v, kv := uint64(s.Embd), uint64(s.FFN), uint64(s.Vocab), uint64(s.Embd/s.Heads*s.HeadsKV)
	want := map[string][]uint64{
		"token_embd.weight":  {e, v},
		"output_norm.weight": {e},
		"output.weight":      {e, v},
	}
	for i := range s.Layers {
		p := fmt.Sprintf("blk.%d.", i)
		want[p+"attn_norm.weight"] = []uint64{e}
		want[p+"attn_q.weight"] = []uint64{e, e}
		want[p+"attn_k.weight"] = []uint64{e, kv}
		want[p+"attn_v.weight"] = []uint64{e, kv}
		want[p+"attn_output.weight"] = []uint64{e, e}
		want[p+"ffn_norm.weight"] = []uint64{e}
		want[p+"ffn_gate.weight"] = []uint64{e, ffn}
		want[p+"ffn_up.weight"] = []uint64{e, ffn}
		want[p+"ffn_down.weight"] = []uint64{ffn, e}
	}
	if len(f.Tensors) != len(want) {
		t.Errorf("%d tensors, want %d", len(f.Tensors), len(want))
	}
	var end uint64
	for name, dims := range want {
		ti, ok := f.Tensor(name)
		if !ok {
			t.Errorf("missing tensor %s", name)
			continue
		}
		typ := s.Type
		if len(dims) == 1 {
			typ = gguf.TypeF32
		}
		size, _ := typ.TensorSize(dims)
		if !slicesEqual(ti.Dims, dims) || ti.Type != typ || ti.Size != size {
			t.Errorf("%s: %v %v %d bytes, want %v %v %d", name, ti.Dims, ti.Type, ti.Size, dims, typ, size)
		}
		end = max(end, ti.Offset+(ti.Size+31)/32*32)
		start := f.DataOffset + int64(ti.Offset)
		values, err := Dequantize(ti.Type, data[start:start+int64(ti.Size)])
		if err != nil {
			t.Fatal(err)
		}
		checkValues(t, name, values, len(dims) == 1)
	}
	if uint64(len(data)) != uint64(f.DataOffset)+end {
		t.Errorf("file is %d bytes, want data offset %d + %d", len(data), f.DataOffset, end)
	}
}

// checkValues checks norms are all ones and matrices look like the random
// initialization: bounded, centered, with the intended spread.
func checkValues(t *testing.T, name string, x []float32, norm bool) {
	t.Helper()
	var sum, sumSq float64
	for i, v := range x {
		if norm && v != 1 {
			t.Fatalf("%s[%d] = %v, want 1", name, i, v)
		}
		if math.IsNaN(float64(v)) || (!norm && math.Abs(float64(v)) > 0.04) {
			t.Fatalf("%s[%d] = %v, out of range", name, i, v)
		}
		sum += float64(v)
		sumSq += float64(v) * float64(v)
	}
	if n := float64(len(x)); !norm && n >= 4096 {
		if std := math.Sqrt(sumSq/n - (sum/n)*(sum/n)); math.Abs(std-weightStd) > 0.003 {
			t.Errorf("%s: standard deviation %v, want about %v", name, std, weightStd)
		}
	}
}

func slicesEqual(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTinyLlamaLayout(t *testing.T) {
	kvs, infos, err := Header(TinyLlama())
	if err != nil {
		t.Fatal(err)
	}
	enc, err := gguf.NewEncoder(kvs, infos)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]uint64{
		"token_embd.weight":        2048 * 32000 / 32 * 18,
		"output.weight":            2048 * 32000 / 32 * 18,
		"output_norm.weight":       2048 * 4,
		"blk.21.attn_k.weight":     2048 * 256 / 32 * 18,
		"blk.21.ffn_down.weight":   5632 * 2048 / 32 * 18,
		"blk.0.attn_output.weight": 2048 * 2048 / 32 * 18,
	}
	ts := enc.Tensors()
	var total uint64
	for _, ti := range ts {
		total += ti.Size
		if want, ok := sizes[ti.Name]; ok && ti.Size != want {
			t.Errorf("%s: %d bytes, want %d", ti.Name, ti.Size, want)
		}
	}
	if len(ts) != 3+22*9 {
		t.Errorf("%d tensors, want %d", len(ts), 3+22*9)
	}
	// 1.1B parameters at 4.5 bits each, plus F32 norms.
	if total != 619_094_016 || enc.Size() != 619_903_648 {
		t.Errorf("tensor data %d bytes, file %d bytes", total, enc.Size())
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "demo.gguf")
	sum, size, err := WriteFile(path, Demo())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sum != sha(data) || size != int64(len(data)) || sum != demoSHA256 {
		t.Errorf("WriteFile returned %s %d; file has %s %d", sum, size, sha(data), len(data))
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	if _, err := gguf.Open(path); err != nil {
		t.Errorf("written file does not open: %v", err)
	}

	bad := Demo()
	bad.Heads = 3
	if _, _, err := WriteFile(path, bad); err == nil {
		t.Error("invalid spec written")
	}
	if _, _, err := WriteFile(filepath.Join(dir, "missing", "x.gguf"), Demo()); err == nil {
		t.Error("write into a missing directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after failures, want only demo.gguf", len(entries))
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, data) {
		t.Error("failed write disturbed the existing file")
	}
}

type failAfter struct{ left int }

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.left {
		return 0, errors.New("disk full")
	}
	f.left -= len(p)
	return len(p), nil
}

func TestWriteErrorStopsWorkers(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, n := range []int{0, 200_000, demoSize - 1} {
		if err := write(&failAfter{left: n}, multiChunk(gguf.TypeF32), 4); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("failing after %d bytes: %v", n, err)
		}
	}
	if err := Write(io.Discard, Spec{Name: "x"}); err == nil {
		t.Error("zero spec accepted")
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left running, had %d", n, before)
	}
}
