package testmodel

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/warden-llm/warden/engine/gguf"
)

func TestQuantizeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 32*64)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
		if i%97 == 0 {
			x[i] *= 20 // outliers make some blocks' scales large
		}
	}
	copy(x[32:64], make([]float32, 32)) // an all-zero block
	for _, typ := range []gguf.GGMLType{gguf.TypeF32, gguf.TypeF16, gguf.TypeQ8_0, gguf.TypeQ4_0} {
		data, err := Quantize(nil, typ, x)
		if err != nil {
			t.Fatalf("%v: %v", typ, err)
		}
		size, _ := typ.TensorSize([]uint64{uint64(len(x))})
		if uint64(len(data)) != size {
			t.Fatalf("%v: %d bytes, want %d", typ, len(data), size)
		}
		y, err := Dequantize(typ, data)
		if err != nil || len(y) != len(x) {
			t.Fatalf("%v: Dequantize: %d values, %v", typ, len(y), err)
		}
		for b := 0; b < len(x); b += 32 {
			var amax float32
			for _, v := range x[b : b+32] {
				amax = max(amax, abs32(v))
			}
			for i := b; i < b+32; i++ {
				if bound := errorBound(typ, x[i], amax); abs32(x[i]-y[i]) > bound {
					t.Fatalf("%v: value %d: %v decoded as %v, error above %v", typ, i, x[i], y[i], bound)
				}
			}
		}
	}
}

// errorBound is the largest allowed |x - dequantize(quantize(x))|. The
// quantized formats round to a step d, and d itself is stored as f16
// (relative error 2^-11), which adds up to |q|·d·2^-11.
func errorBound(typ gguf.GGMLType, x, amax float32) float32 {
	switch typ {
	case gguf.TypeF16:
		return abs32(x) / 2048
	case gguf.TypeQ8_0:
		d := amax / 127
		return d/2 + 127*d/2048
	case gguf.TypeQ4_0:
		// The step is amax/8; the value of largest magnitude with the
		// opposite sign can be clamped to 7 steps, a full step away.
		d := amax / 8
		return d + 8*d/2048
	}
	return 0
}

func TestQ4_0Layout(t *testing.T) {
	// m = -8 gives d = 1 (f16 0x3C00). x[j] = j-8 and x[16+j] = 7-j
	// quantize to q[j] = j and q[16+j] = 15-j, and byte j packs q[j] in the
	// low nibble and q[16+j] in the high one.
	x := make([]float32, 32)
	for j := range 16 {
		x[j] = float32(j - 8)
		x[16+j] = float32(7 - j)
	}
	want := []byte{0x00, 0x3C,
		0xF0, 0xE1, 0xD2, 0xC3, 0xB4, 0xA5, 0x96, 0x87,
		0x78, 0x69, 0x5A, 0x4B, 0x3C, 0x2D, 0x1E, 0x0F}
	got, err := Quantize(nil, gguf.TypeQ4_0, x)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Q4_0 block = % x, %v\nwant          % x", got, err, want)
	}
	y, _ := Dequantize(gguf.TypeQ4_0, got)
	for i := range x {
		if y[i] != x[i] {
			t.Errorf("value %d decoded as %v, want %v", i, y[i], x[i])
		}
	}

	// A positive extreme gives a negative scale: d = 8/-8 = -1 (0xBC00).
	x = make([]float32, 32)
	x[0], x[1], x[16] = 8, -3, 2
	got, _ = Quantize(nil, gguf.TypeQ4_0, x)
	// q = trunc(x/d + 8.5): 8 -> 0, -3 -> 11, 2 -> 6, 0 -> 8.
	want = append([]byte{0x00, 0xBC, 0x60, 0x8B}, bytes.Repeat([]byte{0x88}, 14)...)
	if !bytes.Equal(got, want) {
		t.Errorf("Q4_0 block = % x\nwant          % x", got, want)
	}
}

func TestQ8_0Layout(t *testing.T) {
	x := make([]float32, 32)
	x[0], x[1], x[2], x[31] = 127, -127, 1.4, -2.5 // amax 127: d = 1
	want := make([]byte, 34)
	want[0], want[1] = 0x00, 0x3C
	want[2], want[3], want[4], want[33] = 0x7F, 0x81, 0x01, 0xFD // round(-2.5) = -3
	got, err := Quantize(nil, gguf.TypeQ8_0, x)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("Q8_0 block = % x, %v\nwant          % x", got, err, want)
	}
}

func TestF16Rounding(t *testing.T) {
	tests := []struct {
		x    float32
		bits uint16
	}{
		{1, 0x3C00},
		{-2, 0xC000},
		{65504, 0x7BFF},
		{1 + 1.0/2048, 0x3C00},        // halfway: ties to even (down)
		{1 + 3.0/2048, 0x3C02},        // halfway: ties to even (up)
		{1 + 1.0/2048 + 1e-7, 0x3C01}, // just above halfway
		{1e6, 0x7C00},                 // overflow to +Inf
	}
	for _, tt := range tests {
		got, _ := Quantize(nil, gguf.TypeF16, []float32{tt.x})
		if bits := uint16(got[0]) | uint16(got[1])<<8; bits != tt.bits {
			t.Errorf("f16(%v) = %#04x, want %#04x", tt.x, bits, tt.bits)
		}
	}
}

func TestQuantizeErrors(t *testing.T) {
	if _, err := Quantize(nil, gguf.TypeQ8_0, make([]float32, 33)); err == nil {
		t.Error("Q8_0 of 33 values accepted")
	}
	if _, err := Quantize(nil, gguf.TypeQ4_K, make([]float32, 256)); err == nil {
		t.Error("Q4_K accepted")
	}
	if _, err := Dequantize(gguf.TypeQ4_0, make([]byte, 19)); err == nil {
		t.Error("Q4_0 data of 19 bytes accepted")
	}
	if _, err := Dequantize(gguf.TypeBF16, make([]byte, 2)); err == nil {
		t.Error("BF16 accepted")
	}
}

func TestFillUniform(t *testing.T) {
	x := make([]float32, 1<<16+1) // odd length: last value from half an output
	fillUniform(x, 7, "w", 0)
	a := float32(weightStd * math.Sqrt(3))
	var sum, sumSq float64
	for i, v := range x {
		if v < -a || v >= a {
			t.Fatalf("value %d = %v outside [-%v, %v)", i, v, a, a)
		}
		sum += float64(v)
		sumSq += float64(v) * float64(v)
	}
	n := float64(len(x))
	mean, std := sum/n, math.Sqrt(sumSq/n-(sum/n)*(sum/n))
	if math.Abs(mean) > 0.001 || math.Abs(std-weightStd) > 0.001 {
		t.Errorf("mean %v std %v, want 0 and %v", mean, std, weightStd)
	}
	y := make([]float32, len(x))
	fillUniform(y, 7, "w", 1)
	if x[0] == y[0] && x[1] == y[1] {
		t.Error("chunks 0 and 1 start with the same values")
	}
	fillUniform(y, 7, "w", 0)
	if x[len(x)-1] != y[len(y)-1] || x[100] != y[100] {
		t.Error("fillUniform is not deterministic")
	}
}
