package fit

import (
	"fmt"
	"slices"
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

// CacheTypes lists every CacheType, the default first: the one list that
// parsing, validation and the configuration's allowed values come from.
func CacheTypes() []CacheType { return []CacheType{CacheF16, CacheQ8_0, CacheQ4_0} }

// ParseCacheType accepts one of CacheTypes in any case; "" means f16.
// Parse a setting once, where it is read, and pass the CacheType on.
func ParseCacheType(s string) (CacheType, error) {
	c := CacheType(strings.ToLower(strings.TrimSpace(s)))
	if c == "" {
		return CacheF16, nil
	}
	if !slices.Contains(CacheTypes(), c) {
		return "", fmt.Errorf("KV cache type %q: want %s", s, cacheTypeChoices())
	}
	return c, nil
}

// Check reports whether c is one of CacheTypes (exactly, in lower case);
// the zero CacheType, which means f16 wherever a default applies, is not.
func (c CacheType) Check() error {
	if !slices.Contains(CacheTypes(), c) {
		return fmt.Errorf("KV cache type %q: want %s", string(c), cacheTypeChoices())
	}
	return nil
}

// cacheTypeChoices is "f16, q8_0 or q4_0", from CacheTypes.
func cacheTypeChoices() string {
	types := CacheTypes()
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = string(t)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
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
