package gguf

import (
	"strings"
	"testing"
)

func TestTensorSize(t *testing.T) {
	tests := []struct {
		typ     GGMLType
		dims    []uint64
		want    uint64
		wantErr string
	}{
		{TypeF32, []uint64{4, 3}, 48, ""},
		{TypeF16, []uint64{7}, 14, ""},
		{TypeBF16, []uint64{2, 2, 2, 2}, 32, ""},
		{TypeQ4_0, []uint64{64, 2}, 4 * 18, ""},
		{TypeQ8_0, []uint64{32, 3}, 3 * 34, ""},
		{TypeQ6_K, []uint64{512}, 2 * 210, ""},
		{TypeMXFP4, []uint64{32}, 17, ""},
		{TypeQ4_0, []uint64{33}, 0, "not a multiple"},
		{TypeQ4_K, []uint64{128}, 0, "not a multiple"},
		{TypeF32, []uint64{1 << 32, 1 << 32}, 0, "elements"},
		{TypeF32, []uint64{1 << 62}, 0, "larger than 2^63 bytes"},
		{TypeF32, nil, 0, "no dimensions"},
		{GGMLType(4), []uint64{32}, 0, "unknown ggml type 4"},
		{GGMLType(1000), []uint64{32}, 0, "unknown ggml type"},
	}
	for _, tt := range tests {
		got, err := tt.typ.TensorSize(tt.dims)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v.TensorSize(%v) = %d, %v; want error containing %q", tt.typ, tt.dims, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%v.TensorSize(%v) = %d, %v; want %d", tt.typ, tt.dims, got, err, tt.want)
		}
	}
}

func TestTypeNames(t *testing.T) {
	tests := []struct {
		typ        GGMLType
		name       string
		block, siz int
	}{
		{TypeF32, "F32", 1, 4},
		{TypeF16, "F16", 1, 2},
		{TypeQ4_0, "Q4_0", 32, 18},
		{TypeQ4_1, "Q4_1", 32, 20},
		{TypeQ5_0, "Q5_0", 32, 22},
		{TypeQ5_1, "Q5_1", 32, 24},
		{TypeQ8_0, "Q8_0", 32, 34},
		{TypeQ8_1, "Q8_1", 32, 36},
		{TypeQ2_K, "Q2_K", 256, 84},
		{TypeQ3_K, "Q3_K", 256, 110},
		{TypeQ4_K, "Q4_K", 256, 144},
		{TypeQ5_K, "Q5_K", 256, 176},
		{TypeQ6_K, "Q6_K", 256, 210},
		{TypeQ8_K, "Q8_K", 256, 292},
		{TypeBF16, "BF16", 1, 2},
		{GGMLType(31), "GGMLType(31)", 0, 0},
	}
	for _, tt := range tests {
		if got := tt.typ.String(); got != tt.name {
			t.Errorf("GGMLType(%d).String() = %q, want %q", uint32(tt.typ), got, tt.name)
		}
		if b, s := tt.typ.BlockSize(), tt.typ.TypeSize(); b != tt.block || s != tt.siz {
			t.Errorf("%v: block %d size %d, want %d %d", tt.typ, b, s, tt.block, tt.siz)
		}
		if known := tt.typ.Known(); known != (tt.block != 0) {
			t.Errorf("%v.Known() = %v", tt.typ, known)
		}
	}
	if got := ValueType(13).String(); got != "ValueType(13)" {
		t.Errorf("ValueType(13).String() = %q", got)
	}
	if got := ValueFloat64.String(); got != "FLOAT64" {
		t.Errorf("ValueFloat64.String() = %q", got)
	}
}
