// Package fit estimates the memory a GGUF model needs under llama.cpp from
// its header alone (tensor infos and metadata, never the weights), and plans
// how many of its layers each device holds: all of them on the GPUs when
// they fit, else as many as fit with the rest on the CPU, else a refusal
// that names the shortfall. docs/memory-fit.md gives the formulas and their
// sources.
//
// The package is pure Go and knows nothing of the hardware: callers pass a
// device inventory, real (engine/llamacpp) or hypothetical.
package fit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/warden-llm/warden/engine/gguf"
)

// Defaults for Options fields left zero. They are engine/llamacpp's, so
// that an estimate with zero options describes what `warden serve` loads.
const (
	DefaultMaxContext = 4096 // context when Options.Context is 0: the model's, at most this
	DefaultBatch      = 512
)

// Options are the serving parameters that size the KV cache and the compute
// buffers, as engine/llamacpp.Config names them.
type Options struct {
	Context  int // tokens per sequence; 0: the model's training context, at most DefaultMaxContext
	Parallel int // sequences decoded together; 0: 1
	Batch    int // most tokens per decode step (llama.cpp's n_ubatch); 0: DefaultBatch
	KVType   CacheType
}

// Block is one repeating layer (the tensors named blk.N.*) and its share of
// the KV cache.
type Block struct {
	Weights uint64
	KV      uint64
}

// Model is the memory a model needs, split the way llama.cpp places it:
// repeating layers go to a device together with their KV cache, the input
// layer always stays on the CPU, the output layer goes wherever the last
// offloaded layer goes.
type Model struct {
	Architecture string
	Options      Options // with defaults applied
	// Cells is the number of KV cache cells llama.cpp allocates in all:
	// Context × Parallel after its padding of each sequence to 256.
	Cells  int
	Blocks []Block
	Input  uint64 // token embedding: llama.cpp always keeps it on the CPU
	Output uint64 // output norm and projection
	// TiedOutput is the token embedding again, for models whose output
	// projection is the token embedding: llama.cpp copies it to the output
	// layer's device when that is not the CPU.
	TiedOutput uint64
	// OffloadCopy is the largest tensor of the output layer. When the output
	// layer stays on the CPU, llama.cpp still runs its large matrix product
	// on the GPU and copies the weights there, into the GPU's compute buffer.
	OffloadCopy uint64

	Compute      uint64 // compute buffer of the device that runs the output layer
	LayerCompute uint64 // compute buffer of a device that runs repeating layers only
	HostCompute  uint64 // CPU compute buffer when every layer is offloaded
	HostOutput   uint64 // logits and embeddings of the last step, in host memory
}

// Weights is the size of every tensor, as stored in the file.
func (e *Model) Weights() uint64 {
	n := e.Input + e.Output
	for _, b := range e.Blocks {
		n += b.Weights
	}
	return n
}

// KV is the size of the whole KV cache.
func (e *Model) KV() uint64 {
	var n uint64
	for _, b := range e.Blocks {
		n += b.KV
	}
	return n
}

// CPUTotal is what the model needs with every layer on the CPU.
func (e *Model) CPUTotal() uint64 {
	return e.Weights() + e.KV() + e.Compute + e.HostOutput
}

// Estimate computes the memory the model f describes needs under opts.
func Estimate(f *gguf.File, opts Options) (*Model, error) {
	hp, err := readHParams(f)
	if err != nil {
		return nil, fmt.Errorf("estimate memory: %w", err)
	}
	opts = opts.withDefaults(hp.trainContext)
	if opts.Context < 1 || opts.Parallel < 1 || opts.Batch < 1 {
		return nil, fmt.Errorf("estimate memory: context %d, parallel %d and batch %d must be positive",
			opts.Context, opts.Parallel, opts.Batch)
	}
	e := &Model{Architecture: hp.arch, Options: opts, Blocks: make([]Block, hp.layers)}
	e.groupWeights(f, hp.layers)

	seqCells := cacheCells(opts.Context, opts.Parallel)
	e.Cells = seqCells * opts.Parallel
	for i := range e.Blocks {
		perCell := opts.KVType.rowBytes(hp.keyLen*hp.headsKV[i]) + opts.KVType.rowBytes(hp.valueLen*hp.headsKV[i])
		e.Blocks[i].KV = uint64(e.Cells) * perCell
	}
	e.sizeCompute(hp, seqCells)
	return e, nil
}

func (o Options) withDefaults(trainContext int) Options {
	if o.Context <= 0 {
		o.Context = DefaultMaxContext
		if trainContext > 0 {
			o.Context = min(trainContext, DefaultMaxContext)
		}
	}
	o.Parallel = max(o.Parallel, 1)
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	o.Batch = max(o.Batch, o.Parallel)
	if o.KVType == "" {
		o.KVType = CacheF16
	}
	return o
}

// cacheCells is the KV cells per sequence llama.cpp allocates for a context
// of ctx tokens × parallel sequences: it pads the whole context to a
// multiple of 256, splits it between the sequences (one stream each, as
// kv_unified is off) and pads each share to 256 again.
func cacheCells(ctx, parallel int) int {
	total := padTo(ctx*parallel, 256)
	return padTo(total/parallel, 256)
}

func padTo(n, m int) int { return (n + m - 1) / m * m }

// groupWeights sums tensor sizes by the layer llama.cpp assigns them to.
func (e *Model) groupWeights(f *gguf.File, layers int) {
	var tokenEmbd uint64
	hasOutput := false
	for _, t := range f.Tensors {
		switch {
		case blockIndex(t.Name, layers) >= 0:
			e.Blocks[blockIndex(t.Name, layers)].Weights += t.Size
		case isInput(t.Name):
			e.Input += t.Size
			if t.Name == "token_embd.weight" {
				tokenEmbd = t.Size
			}
		default:
			e.Output += t.Size
			e.OffloadCopy = max(e.OffloadCopy, t.Size)
			hasOutput = hasOutput || t.Name == "output.weight"
		}
	}
	if !hasOutput {
		e.TiedOutput = tokenEmbd
		e.OffloadCopy = max(e.OffloadCopy, tokenEmbd)
	}
}

// blockIndex returns N for a tensor named blk.N.* with N < layers, else -1.
// Tensors of blocks beyond block_count (some models carry extra prediction
// layers) are counted with the output layer.
func blockIndex(name string, layers int) int {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return -1
	}
	num, _, ok := strings.Cut(rest, ".")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || n >= layers {
		return -1
	}
	return n
}

// isInput reports whether llama.cpp loads the tensor as part of the input
// layer, which it never offloads.
func isInput(name string) bool {
	for _, p := range []string{"token_embd.", "token_embd_norm.", "token_types.", "position_embd."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// sizeCompute estimates llama.cpp's compute buffers, which hold the
// intermediate tensors of the largest step it reserves: Batch tokens against
// a full cache, with flash attention (what "auto" resolves to on CPU, CUDA
// and Metal for common head sizes). f32 activations, 4 bytes each:
//
//   - the output layer: the logits of every token (vocab) and the final
//     hidden state (embd);
//   - the repeating layers: the larger of the feed-forward activations and
//     the attention mask (f32 plus its f16 copy: 6 bytes per cell per token).
//
// The two add up because ggml's allocator reuses freed memory imperfectly:
// measured on the CPU, the output layer's tensors land beside a hole of
// roughly one layer's activations.
func (e *Model) sizeCompute(hp hparams, seqCells int) {
	ub := uint64(min(e.Options.Batch, e.Cells))
	output := 4 * ub * (hp.vocab + hp.embd)
	layer := max(4*ub*(hp.ffn+hp.embd), 6*ub*uint64(seqCells))
	hidden := 4 * ub * hp.embd
	e.Compute = output + layer
	e.LayerCompute = layer + 2*hidden
	e.HostCompute = 2 * hidden
	e.HostOutput = 4 * uint64(e.Options.Parallel) * (hp.vocab + hp.embd)
}

// hparams are the hyperparameters the estimate needs, read the way
// llama.cpp reads them.
type hparams struct {
	arch             string
	layers           int
	trainContext     int
	embd, vocab      uint64
	ffn              uint64   // feed-forward activations per token (all active experts)
	headsKV          []uint64 // per layer; 0 for layers without attention
	keyLen, valueLen uint64
}

func readHParams(f *gguf.File) (hparams, error) {
	hp := hparams{arch: f.Architecture()}
	if hp.arch == "" {
		return hp, errors.New("no general.architecture in the header")
	}
	key := func(k string) string { return hp.arch + "." + k }
	layers, ok := f.Uint(key("block_count"))
	if !ok || layers == 0 || layers > 1<<16 {
		return hp, fmt.Errorf("%s missing or out of range", key("block_count"))
	}
	hp.layers = int(layers)
	if n, ok := f.Uint(key("context_length")); ok && n < 1<<31 {
		hp.trainContext = int(n)
	}
	embd, ok := f.Tensor("token_embd.weight")
	if !ok || len(embd.Dims) != 2 {
		return hp, errors.New("no 2-D token_embd.weight tensor")
	}
	hp.embd, hp.vocab = embd.Dims[0], embd.Dims[1]
	if n, ok := f.Uint(key("embedding_length")); ok {
		hp.embd = n
	}
	heads := maxOf(perLayer(f, key("attention.head_count"), hp.layers, 0))
	if heads == 0 {
		return hp, fmt.Errorf("%s missing or zero", key("attention.head_count"))
	}
	hp.headsKV = perLayer(f, key("attention.head_count_kv"), hp.layers, heads)
	hp.keyLen, hp.valueLen = hp.embd/heads, hp.embd/heads
	if n, ok := f.Uint(key("attention.key_length")); ok {
		hp.keyLen = n
	}
	if n, ok := f.Uint(key("attention.value_length")); ok {
		hp.valueLen = n
	}
	hp.ffn = ffnWidth(f, key, hp.layers)
	return hp, nil
}

// perLayer reads a value llama.cpp accepts either as one integer for every
// layer or as an array with one per layer; def fills what is missing.
func perLayer(f *gguf.File, key string, layers int, def uint64) []uint64 {
	out := make([]uint64, layers)
	for i := range out {
		out[i] = def
	}
	if n, ok := f.Uint(key); ok {
		for i := range out {
			out[i] = n
		}
		return out
	}
	v, _ := f.Lookup(key)
	switch xs := v.Any().(type) {
	case []uint32:
		for i := range min(len(xs), layers) {
			out[i] = uint64(xs[i])
		}
	case []int32:
		for i := range min(len(xs), layers) {
			out[i] = uint64(max(xs[i], 0))
		}
	}
	return out
}

func maxOf(xs []uint64) uint64 {
	var m uint64
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// ffnWidth is the feed-forward width per token: the up projection's output
// rows, times the experts used per token for mixture-of-experts layers.
func ffnWidth(f *gguf.File, key func(string) string, layers int) uint64 {
	if t, ok := f.Tensor("blk.0.ffn_up_exps.weight"); ok && len(t.Dims) == 3 {
		used, _ := f.Uint(key("expert_used_count"))
		return t.Dims[1] * max(used, 1)
	}
	if t, ok := f.Tensor("blk.0.ffn_up.weight"); ok && len(t.Dims) == 2 {
		return t.Dims[1]
	}
	return maxOf(perLayer(f, key("feed_forward_length"), layers, 0))
}
