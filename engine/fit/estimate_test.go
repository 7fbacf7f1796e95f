package fit

import (
	"strings"
	"testing"

	"github.com/warden-llm/warden/engine/gguf"
)

func TestEstimateDefaults(t *testing.T) {
	f := llama2_7B.file(t, quantQ4_0) // context_length 4096
	m, err := Estimate(f, Options{Parallel: 4, Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := Options{Context: 4096, Parallel: 4, Batch: 4, KVType: CacheF16}
	if m.Options != want {
		t.Errorf("options %+v, want %+v", m.Options, want)
	}
	if m.Cells != 4*4096 {
		t.Errorf("%d cells, want %d", m.Cells, 4*4096)
	}
}

func TestEstimateRefusesIncompleteHeaders(t *testing.T) {
	good := llama2_7B.metadata(quantQ4_0)
	tensors := llama2_7B.tensors(quantQ4_0)
	without := func(key string) []gguf.KV {
		var kvs []gguf.KV
		for _, kv := range good {
			if kv.Key != key {
				kvs = append(kvs, kv)
			}
		}
		return kvs
	}
	noEmbd := tensors[1:]
	for _, c := range []struct {
		name    string
		kvs     []gguf.KV
		tensors []gguf.TensorInfo
		want    string
	}{
		{"architecture", without("general.architecture"), tensors, "general.architecture"},
		{"block count", without("llama.block_count"), tensors, "block_count"},
		{"heads", without("llama.attention.head_count"), tensors, "head_count"},
		{"token embedding", good, noEmbd, "token_embd"},
	} {
		_, err := Estimate(headerOnly(t, c.kvs, c.tensors), Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("without %s: err %v, want one naming %q", c.name, err, c.want)
		}
	}
}

// Per-layer head counts, as some architectures store them, size each
// layer's cache separately; a layer without KV heads has no cache.
func TestPerLayerKVHeads(t *testing.T) {
	s := shape{name: "mixed", arch: "llama", embd: 256, layers: 3, heads: 4, headsKV: 4, ffn: 512, voc: 1024}
	kvs := s.metadata(quantQ4_0)
	for i, kv := range kvs {
		if kv.Key == "llama.attention.head_count_kv" {
			kvs[i].Value = gguf.Array([]int32{4, 1, 0})
		}
	}
	m, err := Estimate(headerOnly(t, kvs, s.tensors(quantQ4_0)), Options{Context: 256})
	if err != nil {
		t.Fatal(err)
	}
	// 256 cells × K and V rows of heads × 64 dimensions × 2 bytes.
	for i, heads := range []uint64{4, 1, 0} {
		if want := 256 * 2 * heads * 64 * 2; m.Blocks[i].KV != want {
			t.Errorf("layer %d: KV %d, want %d", i, m.Blocks[i].KV, want)
		}
	}
}
