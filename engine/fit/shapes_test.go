package fit

import (
	"fmt"
	"strings"
	"testing"

	"github.com/warden-llm/warden/engine/gguf"
)

// shape is a real model's architecture, from its config.json on Hugging
// Face (hidden_size, num_hidden_layers, num_attention_heads,
// num_key_value_heads, intermediate_size, vocab_size, tie_word_embeddings,
// num_local_experts, num_experts_per_tok).
type shape struct {
	name                                   string
	arch                                   string // llama or qwen2 (qwen2 has q/k/v biases)
	embd, layers, heads, headsKV, ffn, voc uint64
	experts, expertsUsed                   uint64
	tied                                   bool // no output.weight: the output reuses token_embd
	is70B                                  bool // llama.cpp's LLM_TYPE_70B, which bumps attn_v at Q4_K_M
	// merges is the number of BPE merges in the tokenizer (merges.txt),
	// which a GGUF header stores; 0 for SentencePiece tokenizers.
	merges uint64
}

var (
	llama2_7B   = shape{name: "Llama-2-7B", arch: "llama", embd: 4096, layers: 32, heads: 32, headsKV: 32, ffn: 11008, voc: 32000}
	llama2_13B  = shape{name: "Llama-2-13B", arch: "llama", embd: 5120, layers: 40, heads: 40, headsKV: 40, ffn: 13824, voc: 32000}
	llama3_8B   = shape{name: "Llama-3-8B", arch: "llama", embd: 4096, layers: 32, heads: 32, headsKV: 8, ffn: 14336, voc: 128256, merges: 280147}
	llama3_70B  = shape{name: "Llama-3-70B", arch: "llama", embd: 8192, layers: 80, heads: 64, headsKV: 8, ffn: 28672, voc: 128256, is70B: true, merges: 280147}
	qwen25_05B  = shape{name: "Qwen2.5-0.5B", arch: "qwen2", embd: 896, layers: 24, heads: 14, headsKV: 2, ffn: 4864, voc: 151936, tied: true, merges: 151387}
	qwen25_7B   = shape{name: "Qwen2.5-7B", arch: "qwen2", embd: 3584, layers: 28, heads: 28, headsKV: 4, ffn: 18944, voc: 152064, merges: 151387}
	qwen25_14B  = shape{name: "Qwen2.5-14B", arch: "qwen2", embd: 5120, layers: 48, heads: 40, headsKV: 8, ffn: 13824, voc: 152064, merges: 151387}
	mixtral8x7B = shape{name: "Mixtral-8x7B", arch: "llama", embd: 4096, layers: 32, heads: 32, headsKV: 8, ffn: 14336, voc: 32000, experts: 8, expertsUsed: 2}
	quantQ4_0   = "Q4_0"
	quantQ4_K_M = "Q4_K_M"
)

// tensors lists the model's tensors, typed as llama.cpp's quantizer
// (llama_tensor_get_type in src/llama-quant.cpp) types them for ftype:
//
//   - 1-D tensors (norms, biases) and the MoE router stay F32;
//   - Q4_0: every matrix Q4_0, except the output projection, which gets Q6_K;
//   - Q4_K_M: Q4_K, except the output projection Q6_K; attn_v and
//     ffn_down Q6_K in the layers use_more_bits picks (the first and last
//     eighth and every third in between); with 8 experts attn_v and attn_k
//     Q8_0 and attn_output Q5_K; in a 70B model Q4_K attn_v becomes Q5_K;
//   - a tied token embedding is typed as the output projection;
//   - a K-quant on rows that are not a multiple of 256 falls back: Q4_K to
//     Q5_0, Q5_K to Q5_1, Q6_K to Q8_0.
func (s shape) tensors(ftype string) []gguf.TensorInfo {
	hd := s.embd / s.heads
	var ts []gguf.TensorInfo
	add := func(name string, typ gguf.GGMLType, dims ...uint64) {
		if len(dims) == 1 {
			typ = gguf.TypeF32
		}
		ts = append(ts, gguf.TensorInfo{Name: name, Type: fallback(typ, dims[0]), Dims: dims})
	}
	base := gguf.TypeQ4_0
	if ftype == quantQ4_K_M {
		base = gguf.TypeQ4_K
	}
	if s.tied {
		add("token_embd.weight", gguf.TypeQ6_K, s.embd, s.voc)
	} else {
		add("token_embd.weight", base, s.embd, s.voc)
	}
	for i := range s.layers {
		name := func(t string) string { return fmt.Sprintf("blk.%d.%s", i, t) }
		more := ftype == quantQ4_K_M && useMoreBits(i, s.layers)
		attnV, attnK, attnOut, down := base, base, base, base
		if more {
			attnV, down = gguf.TypeQ6_K, gguf.TypeQ6_K
		}
		if ftype == quantQ4_K_M && s.is70B && attnV == gguf.TypeQ4_K {
			attnV = gguf.TypeQ5_K
		}
		if ftype == quantQ4_K_M && s.experts == 8 {
			attnV, attnK, attnOut = gguf.TypeQ8_0, gguf.TypeQ8_0, gguf.TypeQ5_K
		}
		add(name("attn_norm.weight"), 0, s.embd)
		add(name("attn_q.weight"), base, s.embd, s.heads*hd)
		add(name("attn_k.weight"), attnK, s.embd, s.headsKV*hd)
		add(name("attn_v.weight"), attnV, s.embd, s.headsKV*hd)
		if s.arch == "qwen2" {
			add(name("attn_q.bias"), 0, s.heads*hd)
			add(name("attn_k.bias"), 0, s.headsKV*hd)
			add(name("attn_v.bias"), 0, s.headsKV*hd)
		}
		add(name("attn_output.weight"), attnOut, s.heads*hd, s.embd)
		add(name("ffn_norm.weight"), 0, s.embd)
		if s.experts > 0 {
			ts = append(ts, gguf.TensorInfo{Name: name("ffn_gate_inp.weight"), Type: gguf.TypeF32, Dims: []uint64{s.embd, s.experts}})
			add(name("ffn_gate_exps.weight"), base, s.embd, s.ffn, s.experts)
			add(name("ffn_up_exps.weight"), base, s.embd, s.ffn, s.experts)
			add(name("ffn_down_exps.weight"), down, s.ffn, s.embd, s.experts)
			continue
		}
		add(name("ffn_gate.weight"), base, s.embd, s.ffn)
		add(name("ffn_up.weight"), base, s.embd, s.ffn)
		add(name("ffn_down.weight"), down, s.ffn, s.embd)
	}
	add("output_norm.weight", 0, s.embd)
	if !s.tied {
		add("output.weight", gguf.TypeQ6_K, s.embd, s.voc)
	}
	return ts
}

// useMoreBits is llama-quant.cpp's choice of layers that get more bits.
func useMoreBits(i, n uint64) bool {
	return i < n/8 || i >= 7*n/8 || (i >= n/8 && (i-n/8)%3 == 2)
}

// fallback is the type llama.cpp's quantizer uses when rows of length row
// do not fit whole blocks of typ.
func fallback(typ gguf.GGMLType, row uint64) gguf.GGMLType {
	if row%uint64(typ.BlockSize()) == 0 {
		return typ
	}
	switch typ {
	case gguf.TypeQ4_K:
		return gguf.TypeQ5_0
	case gguf.TypeQ5_K:
		return gguf.TypeQ5_1
	case gguf.TypeQ6_K:
		return gguf.TypeQ8_0
	}
	return gguf.TypeF16
}

// metadata is the header metadata llama.cpp reads for the shape; the
// tokenizer is left out, as the estimate does not read it.
func (s shape) metadata(ftype string) []gguf.KV {
	u32 := func(n uint64) gguf.Value { return gguf.Scalar(uint32(n)) }
	key := func(k string) string { return s.arch + "." + k }
	kvs := []gguf.KV{
		{Key: "general.architecture", Value: gguf.Scalar(s.arch)},
		{Key: "general.name", Value: gguf.Scalar(s.name + "-" + ftype)},
		{Key: key("block_count"), Value: u32(s.layers)},
		{Key: key("context_length"), Value: u32(4096)},
		{Key: key("embedding_length"), Value: u32(s.embd)},
		{Key: key("feed_forward_length"), Value: u32(s.ffn)},
		{Key: key("attention.head_count"), Value: u32(s.heads)},
		{Key: key("attention.head_count_kv"), Value: u32(s.headsKV)},
	}
	if s.experts > 0 {
		kvs = append(kvs,
			gguf.KV{Key: key("expert_count"), Value: u32(s.experts)},
			gguf.KV{Key: key("expert_used_count"), Value: u32(s.expertsUsed)})
	}
	return kvs
}

func (s shape) file(t *testing.T, ftype string) *gguf.File {
	t.Helper()
	return headerOnly(t, s.metadata(ftype), s.tensors(ftype))
}

// tokenizerFloor is the least the tokenizer can take in a GGUF header: for
// every token a string (an 8-byte length and at least 1 byte) and a 4-byte
// type, for every merge a string of at least 3 bytes ("a b"). The weights
// are compared with the file less this floor, because for the smallest
// models the tokenizer is over 1 % of the file.
func (s shape) tokenizerFloor() uint64 { return s.voc*(8+1+4) + s.merges*(8+3) }

// published are sizes of real GGUF files of these shapes.
var published = []struct {
	shape  shape
	ftype  string
	bytes  uint64
	source string
}{
	{llama2_7B, quantQ4_0, 3_825_807_040, "TheBloke/Llama-2-7B-GGUF llama-2-7b.Q4_0.gguf; also the size of Ollama's llama2:7b model layer"},
	{llama2_7B, quantQ4_K_M, 4_081_004_224, "TheBloke/Llama-2-7B-GGUF llama-2-7b.Q4_K_M.gguf"},
	{llama2_13B, quantQ4_K_M, 7_870_000_000, "localmodels/Llama-2-13B-ggml README: llama-2-13b q4_K_M 7.87 GB (same tensors, GGML v3 container; rounded to 10 MB)"},
	{llama3_8B, quantQ4_K_M, 4_920_739_232, "Llama-3.1-8B-Instruct Q4_K_M GGUF (same shape as Llama-3-8B)"},
	{llama3_70B, quantQ4_0, 40_116_538_336, "Llama-3.3-70B-Instruct Q4_0 GGUF (same shape as Llama-3-70B)"},
	{llama3_70B, quantQ4_K_M, 42_520_398_816, "Llama-3.3-70B-Instruct Q4_K_M GGUF (same shape as Llama-3-70B)"},
	{qwen25_05B, quantQ4_K_M, 397_808_192, "bartowski/Qwen2.5-0.5B-Instruct-GGUF Qwen2.5-0.5B-Instruct-Q4_K_M.gguf"},
	{qwen25_7B, quantQ4_0, 4_444_121_792, "Qwen2.5-7B-Instruct Q4_0 GGUF"},
	{qwen25_7B, quantQ4_K_M, 4_683_074_240, "Qwen2.5-7B-Instruct Q4_K_M GGUF"},
	{qwen25_14B, quantQ4_K_M, 8_990_000_000, "bartowski/Qwen2.5-14B-Instruct-GGUF Qwen2.5-14B-Instruct-Q4_K_M.gguf, listed as 8,990 MB"},
	{mixtral8x7B, quantQ4_0, 26_440_000_000, "TheBloke/Mixtral-8x7B-v0.1-GGUF mixtral-8x7b-v0.1.Q4_0.gguf, 26.44 GB in the README's table"},
}

func TestWeightsMatchPublishedFiles(t *testing.T) {
	for _, p := range published {
		t.Run(p.shape.name+"-"+p.ftype, func(t *testing.T) {
			m, err := Estimate(p.shape.file(t, p.ftype), Options{Context: 2048})
			if err != nil {
				t.Fatal(err)
			}
			data := p.bytes - p.shape.tokenizerFloor()
			diff := float64(m.Weights())/float64(data) - 1
			t.Logf("weights %d bytes, file %d bytes less %d of tokenizer (%s): %+.3f %%",
				m.Weights(), p.bytes, p.shape.tokenizerFloor(), p.source, 100*diff)
			if diff < -0.01 || diff > 0.01 {
				t.Errorf("weights estimate %s is %+.2f %% off the published %s", FormatBytes(m.Weights()), 100*diff, FormatBytes(data))
			}
		})
	}
}

// bigGPU is a GPU larger than any model here, to read off what a full
// offload needs.
func bigGPU() []Device {
	return []Device{
		{Name: "CPU", Total: 1 << 40, Free: 1 << 40},
		{Name: "GPU0", GPU: true, Total: 1 << 40, Free: 1 << 40, Overhead: DefaultGPUOverhead},
	}
}

// fullGPUNeed is what llama.cpp allocates on the GPU for a full offload at
// a 2,048-token context: weights, KV cache and compute buffers, without the
// driver's own overhead (DefaultGPUOverhead, about 0.5 GiB per GPU).
func fullGPUNeed(t *testing.T, s shape, ftype string) uint64 {
	t.Helper()
	m, err := Estimate(s.file(t, ftype), Options{Context: 2048})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Plan(m, bigGPU(), PlanOptions{GPULayers: -1})
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != ModeFull {
		t.Fatalf("mode %s on a 1 TiB GPU", p.Mode)
	}
	return p.Usage[1].Need()
}

// The rules of thumb for 4-bit weights, in GB of VRAM: 7B 4–5,
// 14B 8–10, 70B 32–35.
func TestRuleOfThumb(t *testing.T) {
	for _, c := range []struct {
		shape  shape
		ftype  string
		lo, hi float64 // GB
	}{
		{llama2_7B, quantQ4_0, 4, 5},
		{qwen25_7B, quantQ4_0, 4, 5},
		{qwen25_7B, quantQ4_K_M, 4, 5},
		{llama2_13B, quantQ4_K_M, 8, 10},
		{qwen25_14B, quantQ4_K_M, 8, 10},
		// The 70B rule does not hold for GGUF: it assumes 4.0 bits per
		// weight (70e9 × 0.5 bytes = 35 GB), but Q4_0, the smallest 4-bit
		// type, stores 4.5 (a 16-bit scale per 32 weights), so a 70B
		// model's weights alone are 40 GB. See docs/memory-fit.md.
		{llama3_70B, quantQ4_0, 40, 42},
	} {
		need := fullGPUNeed(t, c.shape, c.ftype)
		gb := float64(need) / 1e9
		t.Logf("%s %s at 2048 tokens: %.2f GB (%s) on the GPU, plus the driver's overhead", c.shape.name, c.ftype, gb, FormatBytes(need))
		if gb < c.lo || gb > c.hi {
			t.Errorf("%s %s: full offload needs %.2f GB, want %.1f to %.1f", c.shape.name, c.ftype, gb, c.lo, c.hi)
		}
	}
}

// Each part of the estimate, checked against figures worked out by hand
// for Llama-2-7B at Q4_0 with 2 sequences of 2,048 tokens.
func TestEstimateParts(t *testing.T) {
	m, err := Estimate(llama2_7B.file(t, quantQ4_0), Options{Context: 2048, Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	const (
		embdQ4_0   = 32000 * 4096 / 32 * 18   // token_embd, Q4_0
		outputQ6_K = 32000 * 4096 / 256 * 210 // output.weight, Q6_K
		norm       = 4096 * 4
		// per layer: q, k, v, o (4096²) and gate, up, down (4096×11008) at Q4_0, two norms
		layer = (4*4096*4096+3*4096*11008)/32*18 + 2*norm
		// per layer: 4,096 cells, K and V rows of 32 heads × 128, f16
		kv = 4096 * 2 * 4096 * 2
	)
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"input", m.Input, embdQ4_0},
		{"output", m.Output, outputQ6_K + norm},
		{"layer 0", m.Blocks[0].Weights, layer},
		{"layer 31", m.Blocks[31].Weights, layer},
		{"KV of layer 0", m.Blocks[0].KV, kv},
		{"KV", m.KV(), 32 * kv},
		{"cells", uint64(m.Cells), 4096},
		{"logits buffer", m.HostOutput, 2 * 4 * (32000 + 4096)},
		{"compute", m.Compute, 4*512*(32000+4096) + 4*512*(11008+4096)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if len(m.Blocks) != 32 || m.TiedOutput != 0 {
		t.Errorf("%d blocks, tied output %d; want 32 and 0", len(m.Blocks), m.TiedOutput)
	}
}

func TestKVCacheTypes(t *testing.T) {
	f := llama3_8B.file(t, quantQ4_K_M)
	// Per cell and layer: K and V rows of 8 KV heads × 128 = 1,024 elements.
	for _, c := range []struct {
		typ     CacheType
		perRow  uint64
		options string
	}{
		{CacheF16, 1024 * 2, "f16"},
		{CacheQ8_0, 1024 / 32 * 34, "q8_0"},
		{CacheQ4_0, 1024 / 32 * 18, "q4_0"},
	} {
		m, err := Estimate(f, Options{Context: 1000, Parallel: 3, KVType: c.typ})
		if err != nil {
			t.Fatal(err)
		}
		// 3 × 1,000 tokens pad to 3,072 cells; 1,024 per sequence.
		if want := 3072 * 32 * 2 * c.perRow; m.KV() != want {
			t.Errorf("%s: KV %d, want %d", c.options, m.KV(), want)
		}
	}
}

func TestTiedEmbeddingCopiedToGPU(t *testing.T) {
	m, err := Estimate(qwen25_05B.file(t, quantQ4_K_M), Options{Context: 2048})
	if err != nil {
		t.Fatal(err)
	}
	embd, _ := qwen25_05B.file(t, quantQ4_K_M).Tensor("token_embd.weight")
	if m.TiedOutput != embd.Size || embd.Type != gguf.TypeQ8_0 {
		t.Fatalf("tied output %d, token_embd %d bytes of %v; want equal, Q8_0", m.TiedOutput, embd.Size, embd.Type)
	}
	full, err := Plan(m, bigGPU(), PlanOptions{GPULayers: -1})
	if err != nil {
		t.Fatal(err)
	}
	cpu, err := Plan(m, bigGPU(), PlanOptions{GPULayers: 0})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := full.Usage[0].Weights+full.Usage[1].Weights, cpu.Usage[0].Weights+embd.Size; got != want {
		t.Errorf("full offload holds %d bytes of weights, want the CPU's %d plus the embedding again", got, want)
	}
}

func TestMixtureOfExperts(t *testing.T) {
	m, err := Estimate(mixtral8x7B.file(t, quantQ4_K_M), Options{Context: 2048})
	if err != nil {
		t.Fatal(err)
	}
	// Two of eight experts run per token, so the activations are twice a
	// dense layer's: 4 bytes × 512 tokens × (2 × 14,336 + 4,096).
	if want := uint64(4*512*(32000+4096) + 4*512*(2*14336+4096)); m.Compute != want {
		t.Errorf("compute %d, want %d", m.Compute, want)
	}
	if !strings.Contains(m.Architecture, "llama") {
		t.Errorf("architecture %q", m.Architecture)
	}
}
