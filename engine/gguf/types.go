package gguf

import (
	"fmt"
	"math"
	"math/bits"
)

// GGMLType is the ggml element type of a tensor, as stored in a tensor info.
type GGMLType uint32

// The ggml types in current use. Numbers that ggml has retired (4, 5, 31–33,
// 36–38) are deliberately absent: ggml refuses them too.
const (
	TypeF32     GGMLType = 0
	TypeF16     GGMLType = 1
	TypeQ4_0    GGMLType = 2
	TypeQ4_1    GGMLType = 3
	TypeQ5_0    GGMLType = 6
	TypeQ5_1    GGMLType = 7
	TypeQ8_0    GGMLType = 8
	TypeQ8_1    GGMLType = 9
	TypeQ2_K    GGMLType = 10
	TypeQ3_K    GGMLType = 11
	TypeQ4_K    GGMLType = 12
	TypeQ5_K    GGMLType = 13
	TypeQ6_K    GGMLType = 14
	TypeQ8_K    GGMLType = 15
	TypeIQ2_XXS GGMLType = 16
	TypeIQ2_XS  GGMLType = 17
	TypeIQ3_XXS GGMLType = 18
	TypeIQ1_S   GGMLType = 19
	TypeIQ4_NL  GGMLType = 20
	TypeIQ3_S   GGMLType = 21
	TypeIQ2_S   GGMLType = 22
	TypeIQ4_XS  GGMLType = 23
	TypeI8      GGMLType = 24
	TypeI16     GGMLType = 25
	TypeI32     GGMLType = 26
	TypeI64     GGMLType = 27
	TypeF64     GGMLType = 28
	TypeIQ1_M   GGMLType = 29
	TypeBF16    GGMLType = 30
	TypeTQ1_0   GGMLType = 34
	TypeTQ2_0   GGMLType = 35
	TypeMXFP4   GGMLType = 39
)

type typeTraits struct {
	name      string
	blockSize int // elements per block
	typeSize  int // bytes per block
}

// traits returns the layout of t; the zero value means t is unknown.
// A switch rather than a package-level table keeps the data immutable.
func (t GGMLType) traits() typeTraits {
	switch t {
	case TypeF32:
		return typeTraits{"F32", 1, 4}
	case TypeF16:
		return typeTraits{"F16", 1, 2}
	case TypeQ4_0:
		return typeTraits{"Q4_0", 32, 18}
	case TypeQ4_1:
		return typeTraits{"Q4_1", 32, 20}
	case TypeQ5_0:
		return typeTraits{"Q5_0", 32, 22}
	case TypeQ5_1:
		return typeTraits{"Q5_1", 32, 24}
	case TypeQ8_0:
		return typeTraits{"Q8_0", 32, 34}
	case TypeQ8_1:
		return typeTraits{"Q8_1", 32, 36}
	case TypeQ2_K:
		return typeTraits{"Q2_K", 256, 84}
	case TypeQ3_K:
		return typeTraits{"Q3_K", 256, 110}
	case TypeQ4_K:
		return typeTraits{"Q4_K", 256, 144}
	case TypeQ5_K:
		return typeTraits{"Q5_K", 256, 176}
	case TypeQ6_K:
		return typeTraits{"Q6_K", 256, 210}
	case TypeQ8_K:
		return typeTraits{"Q8_K", 256, 292}
	case TypeIQ2_XXS:
		return typeTraits{"IQ2_XXS", 256, 66}
	case TypeIQ2_XS:
		return typeTraits{"IQ2_XS", 256, 74}
	case TypeIQ3_XXS:
		return typeTraits{"IQ3_XXS", 256, 98}
	case TypeIQ1_S:
		return typeTraits{"IQ1_S", 256, 50}
	case TypeIQ4_NL:
		return typeTraits{"IQ4_NL", 32, 18}
	case TypeIQ3_S:
		return typeTraits{"IQ3_S", 256, 110}
	case TypeIQ2_S:
		return typeTraits{"IQ2_S", 256, 82}
	case TypeIQ4_XS:
		return typeTraits{"IQ4_XS", 256, 136}
	case TypeI8:
		return typeTraits{"I8", 1, 1}
	case TypeI16:
		return typeTraits{"I16", 1, 2}
	case TypeI32:
		return typeTraits{"I32", 1, 4}
	case TypeI64:
		return typeTraits{"I64", 1, 8}
	case TypeF64:
		return typeTraits{"F64", 1, 8}
	case TypeIQ1_M:
		return typeTraits{"IQ1_M", 256, 56}
	case TypeBF16:
		return typeTraits{"BF16", 1, 2}
	case TypeTQ1_0:
		return typeTraits{"TQ1_0", 256, 54}
	case TypeTQ2_0:
		return typeTraits{"TQ2_0", 256, 66}
	case TypeMXFP4:
		return typeTraits{"MXFP4", 32, 17}
	}
	return typeTraits{}
}

// Known reports whether t is a ggml type this package can size.
func (t GGMLType) Known() bool { return t.traits().blockSize != 0 }

// String returns ggml's name for t, e.g. "Q4_0", or "GGMLType(n)" if unknown.
func (t GGMLType) String() string {
	if tr := t.traits(); tr.name != "" {
		return tr.name
	}
	return fmt.Sprintf("GGMLType(%d)", uint32(t))
}

// BlockSize returns the number of elements per block, or 0 if t is unknown.
func (t GGMLType) BlockSize() int { return t.traits().blockSize }

// TypeSize returns the number of bytes per block, or 0 if t is unknown.
func (t GGMLType) TypeSize() int { return t.traits().typeSize }

// TensorSize returns the byte size of a tensor of type t with dimensions
// dims (ne order: dims[0] is the innermost, row, dimension). Rows are made of
// whole blocks, so dims[0] must be a multiple of the block size.
func (t GGMLType) TensorSize(dims []uint64) (uint64, error) {
	tr := t.traits()
	if tr.blockSize == 0 {
		return 0, fmt.Errorf("unknown ggml type %d", uint32(t))
	}
	if len(dims) == 0 {
		return 0, fmt.Errorf("%v tensor has no dimensions", t)
	}
	if dims[0]%uint64(tr.blockSize) != 0 {
		return 0, fmt.Errorf("row length %d is not a multiple of the %v block size %d", dims[0], t, tr.blockSize)
	}
	n, err := elements(dims)
	if err != nil {
		return 0, err
	}
	hi, size := bits.Mul64(n/uint64(tr.blockSize), uint64(tr.typeSize))
	if hi != 0 || size > math.MaxInt64 {
		return 0, fmt.Errorf("%v tensor of shape %v is larger than 2^63 bytes", t, dims)
	}
	return size, nil
}

// elements returns the product of dims, failing if it exceeds math.MaxInt64
// (ggml counts elements in int64).
func elements(dims []uint64) (uint64, error) {
	n := uint64(1)
	for _, d := range dims {
		hi, lo := bits.Mul64(n, d)
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("shape %v has more than 2^63-1 elements", dims)
		}
		n = lo
	}
	return n, nil
}
