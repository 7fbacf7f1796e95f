package gguf

import (
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Read checks the container: that ggml can parse the file without running
// out of bounds. llama.cpp then interprets the metadata and tensors, and
// on the way it aborts the whole process on some malformed values
// (GGML_ASSERT, GGML_ABORT) and refuses others (a C++ exception that
// becomes a load error). CheckModel refuses both kinds in Go first, so that
// a file Warden pins is a file llama.cpp loads, and a hostile file can stop
// a load but never the server. docs/models-lock.md lists what is and is
// not covered.
//
// The conditions mirror github.com/ollama/ollama v0.17.4's llama.cpp:
// ggml/src/gguf.cpp, src/llama-model-loader.cpp (typed key access),
// src/llama-model.cpp (load_hparams, load_tensors), src/llama-hparams.cpp
// and src/llama-vocab.cpp (load).

// Limits on hyperparameters. llama.cpp sizes per-layer arrays with
// LLAMA_MAX_LAYERS and expert tables with LLAMA_MAX_EXPERTS; the others
// are far above any real model and keep sizes derived from them from
// overflowing.
const (
	MaxLayers  = 512     // llama.cpp's LLAMA_MAX_LAYERS
	MaxExperts = 512     // llama.cpp's LLAMA_MAX_EXPERTS
	MaxEmbd    = 1 << 20 // embedding length, key and value head sizes
	MaxHeads   = 1 << 16 // attention heads per layer
)

// ReadModel reads the header of the size-byte GGUF input r like Read, then
// checks with CheckModel that llama.cpp can load the model. models add,
// models verify, fit and serve (and so POST /admin/models/load) all decide
// with it, so a file one accepts is a file the others accept.
func ReadModel(r io.ReaderAt, size int64) (*File, error) {
	f, err := Read(r, size)
	if err != nil {
		return nil, err
	}
	if err := CheckModel(f); err != nil {
		return nil, err
	}
	return f, nil
}

// OpenModel is ReadModel for the file at path.
func OpenModel(path string) (*File, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	if err := CheckModel(f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// ModelError reports a well-formed GGUF file that llama.cpp would refuse
// to load, or abort on.
type ModelError struct{ Msg string }

func (e *ModelError) Error() string { return "gguf: llama.cpp cannot load this model: " + e.Msg }

// CheckModel reports the first property of f that would make the pinned
// llama.cpp abort the process or refuse the model. f must come from Read,
// which has already checked the container.
func CheckModel(f *File) error {
	if err := checkModel(f); err != nil {
		return &ModelError{Msg: err.Error()}
	}
	return nil
}

func checkModel(f *File) error {
	if err := checkNoNestedArrays(f); err != nil {
		return err
	}
	arch, err := checkArchitecture(f)
	if err != nil {
		return err
	}
	if err := checkKeyTypes(f, arch); err != nil {
		return err
	}
	if err := checkSplit(f); err != nil {
		return err
	}
	hp, err := readHParams(f, arch)
	if err != nil {
		return err
	}
	nVocab, err := checkVocab(f, arch)
	if err != nil {
		return err
	}
	if arch == "llama" {
		return checkLlama(f, hp, nVocab)
	}
	return nil
}

// checkNoNestedArrays: ggml's reader refuses arrays of arrays ("invalid
// GGUF type"), though the format and this package's reader allow them.
func checkNoNestedArrays(f *File) error {
	for _, kv := range f.KVs {
		if kv.Value.typ == ValueArray && kv.Value.elem == ValueArray {
			return fmt.Errorf("%s is an ARRAY of ARRAY, which ggml's reader refuses", kv.Key)
		}
	}
	return nil
}

func checkArchitecture(f *File) (string, error) {
	v, ok := f.Lookup(KeyArchitecture)
	if !ok {
		return "", fmt.Errorf("no %s", KeyArchitecture)
	}
	arch, isString := v.x.(string)
	if !isString {
		return "", fmt.Errorf("%s is %s, want STRING", KeyArchitecture, describe(v))
	}
	if !KnownArchitecture(arch) {
		return "", fmt.Errorf("%s %q is not an architecture this llama.cpp knows", KeyArchitecture, arch)
	}
	return arch, nil
}

// typedKeys lists keys llama.cpp reads with llama_model_loader::get_key,
// which throws unless the stored type is exactly the one it reads; "%s"
// stands for the architecture. Keys read as "one value or one per layer"
// are checked by perLayer instead.
func typedKeys() map[string]ValueType {
	return map[string]ValueType{
		"general.name":                            ValueString,
		"general.file_type":                       ValueUint32,
		"split.count":                             ValueUint16,
		"%s.vocab_size":                           ValueUint32,
		"%s.context_length":                       ValueUint32,
		"%s.embedding_length":                     ValueUint32,
		"%s.block_count":                          ValueUint32,
		"%s.expert_count":                         ValueUint32,
		"%s.expert_used_count":                    ValueUint32,
		"%s.expert_group_count":                   ValueUint32,
		"%s.expert_group_used_count":              ValueUint32,
		"%s.attention.key_length":                 ValueUint32,
		"%s.attention.value_length":               ValueUint32,
		"%s.attention.layer_norm_rms_epsilon":     ValueFloat32,
		"%s.rope.dimension_count":                 ValueUint32,
		"%s.rope.freq_base":                       ValueFloat32,
		"%s.rope.scale_linear":                    ValueFloat32,
		"%s.rope.scaling.type":                    ValueString,
		"%s.rope.scaling.factor":                  ValueFloat32,
		"%s.rope.scaling.attn_factor":             ValueFloat32,
		"%s.rope.scaling.original_context_length": ValueUint32,
		"%s.rope.scaling.finetuned":               ValueBool,
		"tokenizer.ggml.model":                    ValueString,
		"tokenizer.ggml.pre":                      ValueString,
		"tokenizer.ggml.token_type_count":         ValueUint32,
		"tokenizer.ggml.add_bos_token":            ValueBool,
		"tokenizer.ggml.add_eos_token":            ValueBool,
		"tokenizer.ggml.add_sep_token":            ValueBool,
		"tokenizer.ggml.add_space_prefix":         ValueBool,
		"tokenizer.ggml.remove_extra_whitespaces": ValueBool,
		"tokenizer.ggml.bos_token_id":             ValueUint32,
		"tokenizer.ggml.eos_token_id":             ValueUint32,
		"tokenizer.ggml.eot_token_id":             ValueUint32,
		"tokenizer.ggml.eom_token_id":             ValueUint32,
		"tokenizer.ggml.unknown_token_id":         ValueUint32,
		"tokenizer.ggml.seperator_token_id":       ValueUint32, // sic: llama.cpp's spelling
		"tokenizer.ggml.padding_token_id":         ValueUint32,
		"tokenizer.ggml.mask_token_id":            ValueUint32,
		"tokenizer.ggml.fim_pre_token_id":         ValueUint32,
		"tokenizer.ggml.fim_suf_token_id":         ValueUint32,
		"tokenizer.ggml.fim_mid_token_id":         ValueUint32,
		"tokenizer.ggml.fim_pad_token_id":         ValueUint32,
		"tokenizer.ggml.fim_rep_token_id":         ValueUint32,
		"tokenizer.ggml.fim_sep_token_id":         ValueUint32,
		"tokenizer.ggml.prefix_token_id":          ValueUint32,
		"tokenizer.ggml.suffix_token_id":          ValueUint32,
		"tokenizer.ggml.middle_token_id":          ValueUint32,
	}
}

func checkKeyTypes(f *File, arch string) error {
	for pattern, want := range typedKeys() {
		key := archKey(pattern, arch)
		v, ok := f.Lookup(key)
		if ok && v.typ != want {
			return fmt.Errorf("%s is %s, want %v", key, describe(v), want)
		}
	}
	return nil
}

// archKey fills a typedKeys pattern in with the architecture.
func archKey(pattern, arch string) string {
	if len(pattern) > 3 && pattern[:3] == "%s." {
		return arch + pattern[2:]
	}
	return pattern
}

// checkSplit refuses the first part of a split model: llama.cpp finds the
// other parts by the file's name, and Warden hands it /proc/self/fd/N.
func checkSplit(f *File) error {
	if n, ok := f.Lookup("split.count"); ok && n.x.(uint16) > 1 {
		return fmt.Errorf("split.count is %d: split models are not supported; merge the parts with llama-gguf-split --merge", n.x)
	}
	return nil
}

// hparams are the hyperparameters llama.cpp's load_hparams reads for every
// architecture, with per-layer values expanded.
type hparams struct {
	arch                 string
	layers               int
	embd                 uint64
	heads, headsKV, ff   []uint64
	experts, expertsUsed uint64
	headK, headV         uint64 // per-head key and value sizes
}

func readHParams(f *File, arch string) (hparams, error) {
	hp := hparams{arch: arch}
	key := func(k string) string { return arch + "." + k }
	required := func(k string) (uint64, error) {
		v, ok := f.Uint(key(k))
		if !ok {
			return 0, fmt.Errorf("no %s", key(k))
		}
		return v, nil
	}
	ctx, err := required("context_length")
	if err != nil {
		return hp, err
	}
	if ctx == 0 {
		return hp, fmt.Errorf("%s is 0", key("context_length"))
	}
	if hp.embd, err = required("embedding_length"); err != nil {
		return hp, err
	}
	if hp.embd == 0 || hp.embd > MaxEmbd {
		return hp, fmt.Errorf("%s is %d, want 1 to %d", key("embedding_length"), hp.embd, MaxEmbd)
	}
	layers, err := required("block_count")
	if err != nil {
		return hp, err
	}
	// 0 layers makes llama.cpp abort in llama_hparams::n_head(0); more than
	// LLAMA_MAX_LAYERS overflows its per-layer arrays.
	if layers == 0 || layers > MaxLayers {
		return hp, fmt.Errorf("%s is %d, want 1 to %d", key("block_count"), layers, MaxLayers)
	}
	hp.layers = int(layers)
	if err := readExperts(f, &hp); err != nil {
		return hp, err
	}
	if err := readHeads(f, &hp); err != nil {
		return hp, err
	}
	if v, ok := f.String(key("rope.scaling.type")); ok && !knownRopeScaling(v) {
		// load_hparams: GGML_ASSERT(rope_scaling_type_train != UNSPECIFIED).
		return hp, fmt.Errorf("%s %q is not none, linear, yarn or longrope (llama.cpp aborts on it)", key("rope.scaling.type"), v)
	}
	return hp, nil
}

func knownRopeScaling(s string) bool {
	switch s {
	case "none", "linear", "yarn", "longrope":
		return true
	}
	return false
}

// readExperts applies load_hparams' GGML_ASSERTs on the expert counts.
func readExperts(f *File, hp *hparams) error {
	key := func(k string) string { return hp.arch + "." + k }
	n, _ := f.Uint(key("expert_count"))
	used, _ := f.Uint(key("expert_used_count"))
	groups, _ := f.Uint(key("expert_group_count"))
	groupUsed, _ := f.Uint(key("expert_group_used_count"))
	hp.experts, hp.expertsUsed = n, used
	switch {
	case n > MaxExperts:
		return fmt.Errorf("%s is %d, more than %d", key("expert_count"), n, MaxExperts)
	case used > n:
		return fmt.Errorf("%s %d exceeds %s %d", key("expert_used_count"), used, key("expert_count"), n)
	case n == 0 && groups != 0:
		return fmt.Errorf("%s is %d without experts", key("expert_group_count"), groups)
	case n > 0 && used == 0:
		return fmt.Errorf("%s is 0 with %d experts", key("expert_used_count"), n)
	case n > 0 && groups >= n:
		return fmt.Errorf("%s %d is not below %s %d", key("expert_group_count"), groups, key("expert_count"), n)
	case groups > 1 && n%groups != 0:
		return fmt.Errorf("%s %d does not divide %s %d", key("expert_group_count"), groups, key("expert_count"), n)
	case groups > 1 && (groupUsed == 0 || groupUsed >= groups):
		return fmt.Errorf("%s is %d, want 1 to %d", key("expert_group_used_count"), groupUsed, groups-1)
	}
	return nil
}

// readHeads reads the attention shape. ggml's matrix products broadcast
// the key/value heads over the query heads and abort unless the first
// count is a multiple of the second.
func readHeads(f *File, hp *hparams) error {
	key := func(k string) string { return hp.arch + "." + k }
	var err error
	if hp.ff, err = perLayer(f, key("feed_forward_length"), hp.layers); err != nil {
		return err
	}
	if hp.heads, err = perLayer(f, key("attention.head_count"), hp.layers); err != nil {
		return err
	}
	if hp.headsKV, err = perLayer(f, key("attention.head_count_kv"), hp.layers); err != nil {
		return err
	}
	if _, ok := f.Lookup(key("attention.head_count_kv")); !ok {
		hp.headsKV = hp.heads // llama.cpp's default
	}
	for i := range hp.layers {
		h, kv := hp.heads[i], hp.headsKV[i]
		switch {
		case h > MaxHeads:
			return fmt.Errorf("%s is %d in layer %d, more than %d", key("attention.head_count"), h, i, MaxHeads)
		case kv > h:
			return fmt.Errorf("%s %d exceeds %s %d in layer %d", key("attention.head_count_kv"), kv, key("attention.head_count"), h, i)
		case kv > 0 && h%kv != 0:
			return fmt.Errorf("%s %d does not divide %s %d in layer %d", key("attention.head_count_kv"), kv, key("attention.head_count"), h, i)
		}
	}
	if hp.heads[0] == 0 {
		return nil // not a transformer (Mamba, RWKV): no head sizes
	}
	hp.headK, hp.headV = hp.embd/hp.heads[0], hp.embd/hp.heads[0]
	if n, ok := f.Uint(key("attention.key_length")); ok {
		hp.headK = n
	}
	if n, ok := f.Uint(key("attention.value_length")); ok {
		hp.headV = n
	}
	if hp.headK > MaxEmbd || hp.headV > MaxEmbd {
		return fmt.Errorf("attention key/value lengths %d/%d exceed %d", hp.headK, hp.headV, MaxEmbd)
	}
	return nil
}

// perLayer reads a key llama.cpp takes with get_key_or_arr: one UINT32 for
// every layer, or an ARRAY of UINT32 or INT32 with one per layer. An ARRAY
// of FLOAT32 or STRING there fails a GGML_ASSERT in get_arr; other types
// and lengths throw. An absent key reads as zeros.
func perLayer(f *File, key string, layers int) ([]uint64, error) {
	out := make([]uint64, layers)
	v, ok := f.Lookup(key)
	if !ok {
		return out, nil
	}
	if x, isU32 := v.x.(uint32); isU32 {
		for i := range out {
			out[i] = uint64(x)
		}
		return out, nil
	}
	switch xs := v.x.(type) {
	case []uint32:
		if len(xs) != layers {
			return nil, fmt.Errorf("%s has %d entries for %d layers", key, len(xs), layers)
		}
		for i, x := range xs {
			out[i] = uint64(x)
		}
	case []int32:
		if len(xs) != layers {
			return nil, fmt.Errorf("%s has %d entries for %d layers", key, len(xs), layers)
		}
		for i, x := range xs {
			if x < 0 { // llama.cpp would read it as a count of about 4 billion
				return nil, fmt.Errorf("%s is %d in layer %d", key, x, i)
			}
			out[i] = uint64(x)
		}
	default:
		return nil, fmt.Errorf("%s is %s, want UINT32 or an ARRAY of UINT32 or INT32 (llama.cpp aborts or refuses otherwise)", key, describe(v))
	}
	return out, nil
}

// checkVocab applies llama_vocab::impl::load's checks and returns the
// vocabulary size llama.cpp will use for the embedding shapes.
func checkVocab(f *File, arch string) (uint64, error) {
	model, ok := f.String("tokenizer.ggml.model")
	if !ok {
		return 0, errors.New("no tokenizer.ggml.model")
	}
	switch model {
	case "no_vocab", "none":
		n, _ := f.Uint(arch + ".vocab_size")
		return n, nil
	case "llama", "bert", "t5", "rwkv", "plamo2":
	case "gpt2":
		if _, ok := f.Lookup(KeyMerges); !ok {
			return 0, fmt.Errorf("tokenizer.ggml.model is gpt2 but there is no %s", KeyMerges)
		}
	default:
		return 0, fmt.Errorf("tokenizer.ggml.model %q is not a tokenizer this llama.cpp knows", model)
	}
	if v, ok := f.Lookup("tokenizer.ggml.precompiled_charsmap"); ok &&
		(v.typ != ValueArray || v.elem == ValueString || v.elem == ValueArray) {
		// gguf_get_arr_type and gguf_get_arr_data GGML_ASSERT both.
		return 0, fmt.Errorf("tokenizer.ggml.precompiled_charsmap is %s, want an ARRAY of numbers (llama.cpp aborts otherwise)", describe(v))
	}
	tokens, ok := f.Strings(KeyTokens)
	if !ok {
		return 0, fmt.Errorf("no %s", KeyTokens) // Read has checked its type
	}
	if err := checkUniqueTokens(tokens); err != nil {
		return 0, err
	}
	return uint64(len(tokens)), nil
}

// checkUniqueTokens: llama.cpp maps token text to id and asserts that the
// map holds every token, so a repeated token aborts the process. It names
// an empty token i "[EMPTY_i]" first, which can repeat too.
func checkUniqueTokens(tokens []string) error {
	seen := make(map[string]int, len(tokens))
	for i, tok := range tokens {
		if tok == "" {
			tok = "[EMPTY_" + strconv.Itoa(i) + "]"
		}
		if j, dup := seen[tok]; dup {
			return fmt.Errorf("%s repeats token %q at %d and %d (llama.cpp aborts on it)", KeyTokens, tok, j, i)
		}
		seen[tok] = i
	}
	return nil
}
