package gguf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sampleKVs covers every value type, as scalars and arrays, plus arrays of
// arrays (of strings and mixed element types) and an empty array.
func sampleKVs() []KV {
	return []KV{
		{"general.architecture", Scalar("llama")},
		{KeyAlignment, Scalar(uint32(64))},
		{"t.u8", Scalar(uint8(200))},
		{"t.i8", Scalar(int8(-100))},
		{"t.u16", Scalar(uint16(65000))},
		{"t.i16", Scalar(int16(-32000))},
		{"t.u32", Scalar(uint32(4_000_000_000))},
		{"t.i32", Scalar(int32(-7))},
		{"t.i32pos", Scalar(int32(12))},
		{"t.f32", Scalar(float32(1.5))},
		{"t.bool", Scalar(true)},
		{"t.string", Scalar("héllo\x00world")},
		{"t.u64", Scalar(uint64(math.MaxUint64))},
		{"t.i64", Scalar(int64(math.MinInt64))},
		{"t.f64", Scalar(math.Pi)},
		{"a.u8", Array([]uint8{0, 1, 255})},
		{"a.i8", Array([]int8{-128, 0, 127})},
		{"a.u16", Array([]uint16{1, 65535})},
		{"a.i16", Array([]int16{-32768, 32767})},
		{"a.u32", Array([]uint32{1, 2, 3})},
		{"a.i32", Array([]int32{-1, 0, 1})},
		{"a.f32", Array([]float32{-0.5, 0, float32(math.Inf(1))})},
		{"a.bool", Array([]bool{true, false, true})},
		{"a.string", Array([]string{"", "a", "▁the"})},
		{"a.u64", Array([]uint64{math.MaxUint64})},
		{"a.i64", Array([]int64{math.MinInt64, math.MaxInt64})},
		{"a.f64", Array([]float64{math.SmallestNonzeroFloat64, -1})},
		{"a.empty", Array([]string{})},
		{"a.nested", ArrayOfArrays([]Value{
			Array([]string{"x", "yy"}),
			Array([]string{}),
			ArrayOfArrays([]Value{Array([]string{"deep"})}),
		})},
		{"a.mixed", ArrayOfArrays([]Value{Array([]int32{1}), Array([]bool{false})})},
	}
}

func sampleTensors() []TensorInfo {
	return []TensorInfo{
		{Name: "a", Type: TypeF32, Dims: []uint64{3}},       // 12 bytes: padded
		{Name: "b", Type: TypeQ4_0, Dims: []uint64{64, 2}},  // 72 bytes
		{Name: "c", Type: TypeF16, Dims: []uint64{2, 3, 4}}, // 48 bytes
		{Name: "blk.0.attn_q.weight", Type: TypeQ8_0, Dims: []uint64{32, 1, 1, 2}},
	}
}

// fillByte is the content the tests write for tensor i.
func fillByte(i int) byte { return byte(0xA0 + i) }

func encodeSample(t testing.TB, kvs []KV, tensors []TensorInfo) (*Encoder, []byte) {
	t.Helper()
	enc, err := NewEncoder(kvs, tensors)
	if err != nil {
		t.Fatalf("NewEncoder: %v", err)
	}
	var buf bytes.Buffer
	err = enc.Encode(&buf, func(i int, w io.Writer) error {
		_, err := w.Write(bytes.Repeat([]byte{fillByte(i)}, int(enc.tensors[i].Size)))
		return err
	})
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if int64(buf.Len()) != enc.Size() {
		t.Fatalf("wrote %d bytes, Size() = %d", buf.Len(), enc.Size())
	}
	return enc, buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	kvs, tensors := sampleKVs(), sampleTensors()
	enc, data := encodeSample(t, kvs, tensors)
	f, err := Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if f.Version != Version || f.Alignment != 64 || f.DataOffset != enc.DataOffset() {
		t.Errorf("version %d alignment %d data offset %d; want %d 64 %d", f.Version, f.Alignment, f.DataOffset, Version, enc.DataOffset())
	}
	if f.DataOffset%64 != 0 {
		t.Errorf("data offset %d not aligned", f.DataOffset)
	}
	if !reflect.DeepEqual(f.KVs, kvs) {
		t.Errorf("metadata differs after round trip:\n got %#v\nwant %#v", f.KVs, kvs)
	}
	if want := enc.Tensors(); !reflect.DeepEqual(f.Tensors, want) {
		t.Errorf("tensors = %+v, want %+v", f.Tensors, want)
	}
	wantSizes := []uint64{12, 72, 48, 68}
	var next uint64
	for i, ti := range f.Tensors {
		if ti.Size != wantSizes[i] || ti.Offset != next {
			t.Errorf("tensor %q: offset %d size %d, want %d %d", ti.Name, ti.Offset, ti.Size, next, wantSizes[i])
		}
		next += (ti.Size + 63) / 64 * 64
		start := f.DataOffset + int64(ti.Offset)
		got := data[start : start+int64(ti.Size)]
		if !bytes.Equal(got, bytes.Repeat([]byte{fillByte(i)}, len(got))) {
			t.Errorf("tensor %q data is not where its info says", ti.Name)
		}
		if pad := data[start+int64(ti.Size) : f.DataOffset+int64(next)]; bytes.Count(pad, []byte{0}) != len(pad) {
			t.Errorf("tensor %q: padding is not zero", ti.Name)
		}
	}
	if int64(len(data)) != f.DataOffset+int64(next) {
		t.Errorf("file size %d, want %d", len(data), f.DataOffset+int64(next))
	}
}

func TestAccessors(t *testing.T) {
	_, data := encodeSample(t, sampleKVs(), sampleTensors())
	f, err := Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Architecture(); got != "llama" {
		t.Errorf("Architecture() = %q", got)
	}
	if s, ok := f.String("t.string"); !ok || s != "héllo\x00world" {
		t.Errorf("String = %q, %v", s, ok)
	}
	if _, ok := f.String("t.u8"); ok {
		t.Error("String accepted a UINT8")
	}
	uints := map[string]uint64{"t.u8": 200, "t.u16": 65000, "t.u32": 4_000_000_000, "t.u64": math.MaxUint64, "t.i32pos": 12}
	for key, want := range uints {
		if got, ok := f.Uint(key); !ok || got != want {
			t.Errorf("Uint(%q) = %d, %v; want %d", key, got, ok, want)
		}
	}
	for _, key := range []string{"t.i8", "t.i32", "t.i64", "t.f32", "t.string", "missing"} {
		if got, ok := f.Uint(key); ok {
			t.Errorf("Uint(%q) = %d, want not ok", key, got)
		}
	}
	if got, ok := f.Int("t.i64"); !ok || got != math.MinInt64 {
		t.Errorf("Int(t.i64) = %d, %v", got, ok)
	}
	if _, ok := f.Int("t.u64"); ok {
		t.Error("Int accepted MaxUint64")
	}
	if got, ok := f.Float("t.f32"); !ok || got != 1.5 {
		t.Errorf("Float(t.f32) = %v, %v", got, ok)
	}
	if got, ok := f.Float("t.f64"); !ok || got != math.Pi {
		t.Errorf("Float(t.f64) = %v, %v", got, ok)
	}
	if got, ok := f.Bool("t.bool"); !ok || !got {
		t.Errorf("Bool = %v, %v", got, ok)
	}
	ss, ok := f.Strings("a.string")
	if !ok || !reflect.DeepEqual(ss, []string{"", "a", "▁the"}) {
		t.Errorf("Strings = %q, %v", ss, ok)
	}
	ss[0] = "changed"
	if again, _ := f.Strings("a.string"); again[0] != "" {
		t.Error("Strings returned the file's own slice")
	}
	if _, ok := f.Strings("a.u32"); ok {
		t.Error("Strings accepted a UINT32 array")
	}
	if v, ok := f.Lookup("a.nested"); !ok || v.Type() != ValueArray || v.ElemType() != ValueArray || len(v.Any().([]Value)) != 3 {
		t.Errorf("Lookup(a.nested) = %+v, %v", v, ok)
	}
	if ti, ok := f.Tensor("c"); !ok || ti.Elements() != 24 || ti.Type != TypeF16 {
		t.Errorf("Tensor(c) = %+v, %v", ti, ok)
	}
	if _, ok := f.Tensor("nope"); ok {
		t.Error("Tensor found a missing name")
	}
}

func TestOpen(t *testing.T) {
	_, data := encodeSample(t, sampleKVs(), sampleTensors())
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != 4 || len(f.KVs) != len(sampleKVs()) {
		t.Errorf("Open: %d tensors %d KVs", len(f.Tensors), len(f.KVs))
	}
	if err := os.WriteFile(path, data[:len(data)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Open of a truncated file: %v", err)
	}
}

func TestDefaultAlignment(t *testing.T) {
	enc, data := encodeSample(t, []KV{{"k", Scalar("v")}}, sampleTensors())
	f, err := Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Alignment != DefaultAlignment || f.DataOffset%DefaultAlignment != 0 || enc.Tensors()[1].Offset != 32 {
		t.Errorf("alignment %d data offset %d second tensor at %d", f.Alignment, f.DataOffset, enc.Tensors()[1].Offset)
	}
}

func TestEncodeCallbackSizes(t *testing.T) {
	enc, err := NewEncoder(nil, []TensorInfo{{Name: "x", Type: TypeF32, Dims: []uint64{4}}})
	if err != nil {
		t.Fatal(err)
	}
	errBoom := errors.New("boom")
	tests := []struct {
		name  string
		write func(w io.Writer) error
		want  string
	}{
		{"short", func(w io.Writer) error { _, err := w.Write(make([]byte, 15)); return err }, "wrote 15 of 16 bytes"},
		{"long", func(w io.Writer) error { _, err := w.Write(make([]byte, 17)); return err }, "1 more bytes"},
		{"long in pieces", func(w io.Writer) error {
			for range 3 {
				if _, err := w.Write(make([]byte, 6)); err != nil {
					return err
				}
			}
			return nil
		}, "2 more bytes"},
		{"error", func(io.Writer) error { return errBoom }, "boom"},
	}
	for _, tt := range tests {
		err := enc.Encode(io.Discard, func(_ int, w io.Writer) error { return tt.write(w) })
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `"x"`) {
			t.Errorf("%s: Encode error %v, want it to name the tensor and contain %q", tt.name, err, tt.want)
		}
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.after {
		return 0, errors.New("disk full")
	}
	f.after -= len(p)
	return len(p), nil
}

func TestEncodeWriterError(t *testing.T) {
	enc, err := NewEncoder(sampleKVs(), sampleTensors())
	if err != nil {
		t.Fatal(err)
	}
	for _, after := range []int{0, 100, int(enc.Size()) - 1} {
		err := enc.Encode(&failWriter{after: after}, func(i int, w io.Writer) error {
			_, err := w.Write(make([]byte, enc.tensors[i].Size))
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("failing after %d bytes: Encode error %v", after, err)
		}
	}
}

func TestNewEncoderRejects(t *testing.T) {
	tensor := TensorInfo{Name: "t", Type: TypeF32, Dims: []uint64{1}}
	deep := Array([]string{"x"})
	for range MaxArrayDepth {
		deep = ArrayOfArrays([]Value{deep})
	}
	tests := []struct {
		name    string
		kvs     []KV
		tensors []TensorInfo
		want    string
	}{
		{"duplicate key", []KV{{"k", Scalar(1.0)}, {"k", Scalar(2.0)}}, nil, `duplicate metadata key "k"`},
		{"alignment type", []KV{{KeyAlignment, Scalar(uint64(32))}}, nil, "power of two"},
		{"alignment value", []KV{{KeyAlignment, Scalar(uint32(48))}}, nil, "power of two"},
		{"zero value", []KV{{"k", Value{}}}, nil, "UINT8 value holds <nil>"},
		{"array of scalars", []KV{{"k", ArrayOfArrays([]Value{Scalar(int32(1))})}}, nil, "want an array"},
		{"too deep", []KV{{"k", deep}}, nil, "nested more than"},
		{"duplicate tensor", nil, []TensorInfo{tensor, tensor}, `duplicate tensor name "t"`},
		{"no name", nil, []TensorInfo{{Type: TypeF32, Dims: []uint64{1}}}, "empty tensor name"},
		{"long name", nil, []TensorInfo{{Name: strings.Repeat("n", 64), Type: TypeF32, Dims: []uint64{1}}}, "more than 63"},
		{"no dims", nil, []TensorInfo{{Name: "t", Type: TypeF32}}, "0 dimensions"},
		{"five dims", nil, []TensorInfo{{Name: "t", Type: TypeF32, Dims: []uint64{1, 1, 1, 1, 1}}}, "5 dimensions"},
		{"zero dim", nil, []TensorInfo{{Name: "t", Type: TypeF32, Dims: []uint64{2, 0}}}, "dimension 1 is 0"},
		{"bad type", nil, []TensorInfo{{Name: "t", Type: 5, Dims: []uint64{32}}}, "unknown ggml type 5"},
		{"partial block", nil, []TensorInfo{{Name: "t", Type: TypeQ8_0, Dims: []uint64{16}}}, "not a multiple"},
		{"vocab mismatch", []KV{{KeyTokens, Array([]string{"a", "b"})}, {KeyScores, Array([]float32{0})}}, nil,
			"tokenizer.ggml.scores has 1 entries but tokenizer.ggml.tokens has 2"},
	}
	for _, tt := range tests {
		if _, err := NewEncoder(tt.kvs, tt.tensors); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: NewEncoder error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func ExampleEncoder() {
	kvs := []KV{{"general.architecture", Scalar("demo")}}
	tensors := []TensorInfo{{Name: "w", Type: TypeF32, Dims: []uint64{4, 2}}}
	enc, err := NewEncoder(kvs, tensors)
	if err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	err = enc.Encode(&buf, func(i int, w io.Writer) error {
		_, err := w.Write(make([]byte, 4*4*2)) // stream the tensor's bytes here
		return err
	})
	if err != nil {
		panic(err)
	}
	f, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Architecture(), f.Tensors[0].Name, f.Tensors[0].Size, buf.Len())
	// Output: demo w 32 160
}
