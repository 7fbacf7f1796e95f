package fit

import (
	"fmt"
	"strings"

	"github.com/warden-llm/warden/engine/gguf"
)

// CacheType is the element type of the KV cache: the strings llama.cpp's
// bindings accept for type_k and type_v.
type CacheType string

// The KV cache types llama.cpp's bindings accept. Quantized caches store
// blocks of 32 elements: q8_0 in 34 bytes (half of f16, plus a scale per
// block), q4_0 in 18 bytes.
const (
	CacheF16  CacheType = "f16"
	CacheQ8_0 CacheType = "q8_0"
	CacheQ4_0 CacheType = "q4_0"
)

// ParseCacheType accepts "f16", "q8_0" or "q4_0" in any case; "" means f16.
func ParseCacheType(s string) (CacheType, error) {
	switch c := CacheType(strings.ToLower(strings.TrimSpace(s))); c {
	case "":
		return CacheF16, nil
	case CacheF16, CacheQ8_0, CacheQ4_0:
		return c, nil
	}
	return "", fmt.Errorf("KV cache type %q: want f16, q8_0 or q4_0", s)
}

func (c CacheType) ggml() gguf.GGMLType {
	switch c {
	case CacheQ8_0:
		return gguf.TypeQ8_0
	case CacheQ4_0:
		return gguf.TypeQ4_0
	}
	return gguf.TypeF16
}

// rowBytes is the size of a cache row of n elements. Rows of quantized
// caches are whole blocks; llama.cpp refuses a quantized cache whose rows
// are not, so rounding up only matters for malformed models.
func (c CacheType) rowBytes(n uint64) uint64 {
	t := c.ggml()
	bs := uint64(t.BlockSize())
	return (n + bs - 1) / bs * uint64(t.TypeSize())
}
