package testmodel

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/x448/float16"

	"github.com/warden-llm/warden/engine/gguf"
)

// Block layout shared by Q8_0 and Q4_0.
const (
	qk      = 32       // elements per block
	q8Block = 2 + qk   // f16 scale + 32 int8
	q4Block = 2 + qk/2 // f16 scale + 32 nibbles
)

// Quantize appends src encoded as t (F32, F16, Q8_0 or Q4_0) to dst. The
// quantizers follow ggml's reference implementations (quantize_row_q8_0_ref,
// quantize_row_q4_0_ref), so they agree with llama-quantize bit for bit.
// For quantized types len(src) must be a multiple of 32.
func Quantize(dst []byte, t gguf.GGMLType, src []float32) ([]byte, error) {
	if bs := t.BlockSize(); bs > 1 && len(src)%bs != 0 {
		return nil, fmt.Errorf("quantize %d values to %v: not a multiple of the block size %d", len(src), t, bs)
	}
	le := binary.LittleEndian
	switch t {
	case gguf.TypeF32:
		for _, x := range src {
			dst = le.AppendUint32(dst, math.Float32bits(x))
		}
	case gguf.TypeF16:
		for _, x := range src {
			dst = le.AppendUint16(dst, float16.Fromfloat32(x).Bits())
		}
	case gguf.TypeQ8_0:
		for i := 0; i < len(src); i += qk {
			dst = appendQ8_0(dst, src[i:i+qk])
		}
	case gguf.TypeQ4_0:
		for i := 0; i < len(src); i += qk {
			dst = appendQ4_0(dst, src[i:i+qk])
		}
	default:
		return nil, fmt.Errorf("quantize: unsupported type %v", t)
	}
	return dst, nil
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// appendQ8_0 encodes one block: scale d = amax/127, q = round(x/d).
func appendQ8_0(dst []byte, x []float32) []byte {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	dst = binary.LittleEndian.AppendUint16(dst, float16.Fromfloat32(d).Bits())
	for _, v := range x {
		// The explicit float32 conversion forbids fusing into a wider
		// operation, which would make results differ between platforms.
		q := math.Round(float64(float32(v * id)))
		dst = append(dst, byte(int8(min(max(q, -127), 127))))
	}
	return dst
}

// appendQ4_0 encodes one block: d = m/-8 where m is the value of largest
// magnitude, q = clamp(trunc(x/d + 8.5), 0, 15); byte j holds q[j] in its
// low nibble and q[j+16] in its high nibble.
func appendQ4_0(dst []byte, x []float32) []byte {
	var amax, m float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, m = a, v
		}
	}
	d := m / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	dst = binary.LittleEndian.AppendUint16(dst, float16.Fromfloat32(d).Bits())
	for j := range qk / 2 {
		lo := nibble(float32(x[j]*id) + 8.5) // conversion: see appendQ8_0
		hi := nibble(float32(x[j+qk/2]*id) + 8.5)
		dst = append(dst, lo|hi<<4)
	}
	return dst
}

func nibble(v float32) byte {
	return byte(min(max(int(v), 0), 15))
}

// Dequantize decodes data of type t (F32, F16, Q8_0 or Q4_0) to float32.
func Dequantize(t gguf.GGMLType, data []byte) ([]float32, error) {
	bs, ts := t.BlockSize(), t.TypeSize()
	switch t {
	case gguf.TypeF32, gguf.TypeF16, gguf.TypeQ8_0, gguf.TypeQ4_0:
	default:
		return nil, fmt.Errorf("dequantize: unsupported type %v", t)
	}
	if len(data)%ts != 0 {
		return nil, fmt.Errorf("dequantize %v: %d bytes is not a whole number of %d-byte blocks", t, len(data), ts)
	}
	le := binary.LittleEndian
	out := make([]float32, 0, len(data)/ts*bs)
	for b := data; len(b) > 0; b = b[ts:] {
		switch t {
		case gguf.TypeF32:
			out = append(out, math.Float32frombits(le.Uint32(b)))
		case gguf.TypeF16:
			out = append(out, half(b))
		case gguf.TypeQ8_0:
			d := half(b)
			for _, q := range b[2:q8Block] {
				out = append(out, float32(int8(q))*d)
			}
		case gguf.TypeQ4_0:
			d := half(b)
			qs := b[2:q4Block]
			for _, q := range qs {
				out = append(out, float32(int(q&0xF)-8)*d)
			}
			for _, q := range qs {
				out = append(out, float32(int(q>>4)-8)*d)
			}
		}
	}
	return out, nil
}

func half(b []byte) float32 {
	return float16.Frombits(binary.LittleEndian.Uint16(b)).Float32()
}
