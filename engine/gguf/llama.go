package gguf

import (
	"errors"
	"fmt"
	"slices"
)

// tensorWant is a tensor llama.cpp's load_tensors asks for: its shape in
// ggml order and whether the model loads without it.
type tensorWant struct {
	dims     []uint64
	optional bool
}

// checkLlama applies what llama.cpp's load_hparams and load_tensors require
// of the llama architecture: the hyperparameters it insists on, every
// tensor it asks for present with exactly the shape the hyperparameters
// give, and no tensor it does not ask for ("wrong number of tensors").
func checkLlama(f *File, hp hparams, nVocab uint64) error {
	if _, ok := f.Float("llama.attention.layer_norm_rms_epsilon"); !ok {
		return errors.New("no llama.attention.layer_norm_rms_epsilon")
	}
	if hp.heads[0] == 0 {
		return errors.New("no llama.attention.head_count, or it is 0")
	}
	if hp.ff[0] == 0 {
		return errors.New("no llama.feed_forward_length, or it is 0")
	}
	if rot, ok := f.Uint("llama.rope.dimension_count"); ok && rot != hp.headK {
		return fmt.Errorf("llama.rope.dimension_count is %d, want the head size %d", rot, hp.headK)
	}
	if nVocab == 0 {
		return errors.New("the vocabulary is empty")
	}
	scaling, _ := f.String("llama.rope.scaling.type")
	want := llamaTensors(hp, nVocab, scaling == "longrope")
	for _, t := range f.Tensors {
		w, ok := want[t.Name]
		if !ok {
			return fmt.Errorf("tensor %q is not part of a llama model", t.Name)
		}
		if err := checkShape(t, w.dims); err != nil {
			return err
		}
		if err := checkWeightType(t, len(w.dims) == 1); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(want) {
		if _, ok := f.Tensor(name); !ok && !want[name].optional {
			return fmt.Errorf("tensor %q is missing", name)
		}
	}
	return nil
}

// llamaTensors lists the tensors llama.cpp's load_tensors asks a llama
// model for, by name. Like llama.cpp it takes the attention and
// feed-forward sizes of layer 0 for every layer.
func llamaTensors(hp hparams, nVocab uint64, longRope bool) map[string]tensorWant {
	embd, nFF := hp.embd, hp.ff[0]
	q := hp.headK * hp.heads[0]
	k := hp.headK * hp.headsKV[0]
	v := hp.headV * hp.headsKV[0]
	rot := hp.headK // checkLlama has made rope.dimension_count equal to it
	need := func(dims ...uint64) tensorWant { return tensorWant{dims: dims} }
	opt := func(dims ...uint64) tensorWant { return tensorWant{dims: dims, optional: true} }
	want := map[string]tensorWant{
		"token_embd.weight":  need(embd, nVocab),
		"output_norm.weight": need(embd),
		"output.weight":      opt(embd, nVocab), // absent: tied to token_embd
	}
	if longRope {
		want["rope_factors_long.weight"] = opt(rot / 2)
		want["rope_factors_short.weight"] = opt(rot / 2)
	} else {
		want["rope_freqs.weight"] = opt(rot / 2)
	}
	for i := range hp.layers {
		blk := func(name string) string { return fmt.Sprintf("blk.%d.%s", i, name) }
		want[blk("attn_norm.weight")] = need(embd)
		want[blk("attn_q.weight")] = need(embd, q)
		want[blk("attn_k.weight")] = need(embd, k)
		want[blk("attn_v.weight")] = need(embd, v)
		want[blk("attn_output.weight")] = need(q, embd)
		want[blk("attn_q.bias")] = opt(embd)
		want[blk("attn_k.bias")] = opt(v) // sic: llama.cpp sizes both by n_embd_v_gqa
		want[blk("attn_v.bias")] = opt(v)
		want[blk("attn_output.bias")] = opt(embd)
		want[blk("ffn_norm.weight")] = need(embd)
		if hp.experts == 0 {
			want[blk("ffn_gate.weight")] = need(embd, nFF)
			want[blk("ffn_down.weight")] = need(nFF, embd)
			want[blk("ffn_up.weight")] = need(embd, nFF)
			want[blk("ffn_gate.bias")] = opt(nFF)
			want[blk("ffn_down.bias")] = opt(embd)
			want[blk("ffn_up.bias")] = opt(nFF)
			continue
		}
		n := hp.experts
		want[blk("ffn_gate_inp.weight")] = need(embd, n)
		want[blk("ffn_gate_exps.weight")] = opt(embd, nFF, n)
		want[blk("ffn_down_exps.weight")] = need(nFF, embd, n)
		want[blk("ffn_up_exps.weight")] = need(embd, nFF, n)
	}
	return want
}

// checkShape compares as llama.cpp's check_tensor_dims does: dimensions
// past the wanted ones must be 1.
func checkShape(t TensorInfo, want []uint64) error {
	for i := range MaxDims {
		got, exp := uint64(1), uint64(1)
		if i < len(t.Dims) {
			got = t.Dims[i]
		}
		if i < len(want) {
			exp = want[i]
		}
		if got != exp {
			return fmt.Errorf("tensor %q has shape %v, want %v", t.Name, t.Dims, want)
		}
	}
	return nil
}

// checkWeightType refuses types ggml has no kernels for in these roles.
// Vectors (norms, biases, rope factors) are added and multiplied element
// by element, which every converter and quantizer keeps in F32. Matrices
// go through matrix products and row lookups, for which ggml has no
// integer or F64 kernels, and Q8_1 and Q8_K exist only as the other
// operand of a product: ggml would call a missing kernel.
func checkWeightType(t TensorInfo, vector bool) error {
	if vector {
		if t.Type != TypeF32 {
			return fmt.Errorf("tensor %q is a vector of type %v, want F32", t.Name, t.Type)
		}
		return nil
	}
	switch t.Type {
	case TypeI8, TypeI16, TypeI32, TypeI64, TypeF64, TypeQ8_1, TypeQ8_K:
		return fmt.Errorf("tensor %q has type %v, which ggml cannot multiply", t.Name, t.Type)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
