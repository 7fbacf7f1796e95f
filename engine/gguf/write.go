package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Encoder writes one GGUF file layout. NewEncoder validates the metadata
// and tensors and lays out the file; Encode then writes the header and
// streams the tensor data, so a model never has to be held in memory.
type Encoder struct {
	header     []byte
	tensors    []TensorInfo
	alignment  uint64
	dataOffset int64
	size       int64
}

// NewEncoder validates kvs and tensors against the same rules as Read and
// computes the layout. Tensors are written in the given order; their Offset
// and Size fields are computed and any values set by the caller ignored.
// The alignment is taken from a general.alignment UINT32 pair if present,
// else DefaultAlignment.
func NewEncoder(kvs []KV, tensors []TensorInfo) (*Encoder, error) {
	if len(kvs) > MaxKVs {
		return nil, fmt.Errorf("gguf: %d metadata pairs exceed the limit of %d", len(kvs), MaxKVs)
	}
	if len(tensors) > MaxTensors {
		return nil, fmt.Errorf("gguf: %d tensors exceed the limit of %d", len(tensors), MaxTensors)
	}
	e := &Encoder{alignment: DefaultAlignment}
	le := binary.LittleEndian
	b := append([]byte(nil), Magic...)
	b = le.AppendUint32(b, Version)
	b = le.AppendUint64(b, uint64(len(tensors)))
	b = le.AppendUint64(b, uint64(len(kvs)))
	b, err := e.appendKVs(b, kvs)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	if b, err = e.appendTensors(b, tensors); err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	e.header = b
	e.dataOffset = int64(alignUp(uint64(len(b)), e.alignment))
	e.size = e.dataOffset
	if n := len(e.tensors); n > 0 {
		last := e.tensors[n-1]
		e.size += int64(last.Offset + alignUp(last.Size, e.alignment))
	}
	return e, nil
}

func (e *Encoder) appendKVs(b []byte, kvs []KV) ([]byte, error) {
	seen := make(map[string]Value, len(kvs))
	for _, kv := range kvs {
		if _, dup := seen[kv.Key]; dup {
			return nil, fmt.Errorf("duplicate metadata key %q", kv.Key)
		}
		seen[kv.Key] = kv.Value
		if err := checkKey(kv.Key); err != nil {
			return nil, err
		}
		if len(kv.Key) > MaxStringLen {
			return nil, fmt.Errorf("metadata key of %d bytes exceeds the limit of %d", len(kv.Key), MaxStringLen)
		}
		if kv.Key == KeyAlignment {
			a, ok := kv.Value.x.(uint32)
			if !ok || !validAlignment(uint64(a)) {
				return nil, fmt.Errorf("%s must be a UINT32 power of two no larger than %d", KeyAlignment, MaxAlignment)
			}
			e.alignment = uint64(a)
		}
		b = appendString(b, kv.Key)
		b = binary.LittleEndian.AppendUint32(b, uint32(kv.Value.typ))
		var err error
		if b, err = appendValue(b, kv.Value, 0); err != nil {
			return nil, fmt.Errorf("metadata key %q: %w", kv.Key, err)
		}
	}
	err := checkTokenizer(func(key string) (Value, bool) {
		v, ok := seen[key]
		return v, ok
	})
	return b, err
}

func (e *Encoder) appendTensors(b []byte, tensors []TensorInfo) ([]byte, error) {
	le := binary.LittleEndian
	seen := make(map[string]bool, len(tensors))
	e.tensors = make([]TensorInfo, len(tensors))
	var offset uint64
	for i, t := range tensors {
		size, err := checkTensor(t)
		if err != nil {
			return nil, err
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("duplicate tensor name %q", t.Name)
		}
		seen[t.Name] = true
		t.Dims = append([]uint64(nil), t.Dims...)
		t.Offset, t.Size = offset, size
		if offset += alignUp(size, e.alignment); offset > math.MaxInt64/2 {
			return nil, fmt.Errorf("tensor data exceeds 2^62 bytes at tensor %q", t.Name)
		}
		e.tensors[i] = t

		b = appendString(b, t.Name)
		b = le.AppendUint32(b, uint32(len(t.Dims)))
		for _, d := range t.Dims {
			b = le.AppendUint64(b, d)
		}
		b = le.AppendUint32(b, uint32(t.Type))
		b = le.AppendUint64(b, t.Offset)
	}
	return b, nil
}

// Tensors returns the laid-out tensor infos, with Offset and Size set.
func (e *Encoder) Tensors() []TensorInfo {
	ts := make([]TensorInfo, len(e.tensors))
	for i, t := range e.tensors {
		t.Dims = append([]uint64(nil), t.Dims...)
		ts[i] = t
	}
	return ts
}

// DataOffset returns the absolute offset of the data section.
func (e *Encoder) DataOffset() int64 { return e.dataOffset }

// Size returns the total size of the encoded file in bytes.
func (e *Encoder) Size() int64 { return e.size }

// Encode writes the file to w. For each tensor in order it calls data with
// the tensor's index and a writer that accepts exactly the tensor's Size
// bytes; writing more fails, and so does returning having written fewer.
// Alignment padding is added between tensors and after the last one.
func (e *Encoder) Encode(w io.Writer, data func(i int, w io.Writer) error) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	zeros := make([]byte, e.alignment)
	if _, err := bw.Write(e.header); err != nil {
		return fmt.Errorf("gguf: write header: %w", err)
	}
	if _, err := bw.Write(zeros[:e.dataOffset-int64(len(e.header))]); err != nil {
		return fmt.Errorf("gguf: write header: %w", err)
	}
	for i, t := range e.tensors {
		tw := &tensorWriter{w: bw, left: t.Size}
		if err := data(i, tw); err != nil {
			return fmt.Errorf("gguf: write tensor %q: %w", t.Name, err)
		}
		if tw.left != 0 {
			return fmt.Errorf("gguf: write tensor %q: wrote %d of %d bytes", t.Name, t.Size-tw.left, t.Size)
		}
		if _, err := bw.Write(zeros[:alignUp(t.Size, e.alignment)-t.Size]); err != nil {
			return fmt.Errorf("gguf: write tensor %q: %w", t.Name, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	return nil
}

// tensorWriter passes through at most left bytes, so that a callback that
// produces too much data fails instead of corrupting the layout.
type tensorWriter struct {
	w    io.Writer
	left uint64
}

func (t *tensorWriter) Write(p []byte) (int, error) {
	if uint64(len(p)) > t.left {
		return 0, fmt.Errorf("%d more bytes than the tensor size", uint64(len(p))-t.left)
	}
	n, err := t.w.Write(p)
	t.left -= uint64(n)
	return n, err
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// appendValue encodes v's payload (without its type tag), checking that the
// Go value matches the tag and that the reader's limits hold.
func appendValue(b []byte, v Value, depth int) ([]byte, error) {
	typ, elem, ok := kindOf(v.x)
	if !ok || typ != v.typ || (typ == ValueArray && elem != v.elem) {
		return nil, fmt.Errorf("%v value holds %T", v.typ, v.x)
	}
	if typ != ValueArray {
		if s, ok := v.x.(string); ok && len(s) > MaxStringLen {
			return nil, fmt.Errorf("string of %d bytes exceeds the limit of %d", len(s), MaxStringLen)
		}
		return appendScalar(b, v.x), nil
	}
	if elem == ValueArray && depth+1 >= MaxArrayDepth {
		return nil, fmt.Errorf("arrays nested more than %d deep", MaxArrayDepth)
	}
	return appendArray(b, v, depth)
}

func appendArray(b []byte, v Value, depth int) ([]byte, error) {
	le := binary.LittleEndian
	b = le.AppendUint32(b, uint32(v.elem))
	switch xs := v.x.(type) {
	case []string:
		if len(xs) > MaxArrayLen {
			return nil, fmt.Errorf("array of %d elements exceeds the limit of %d", len(xs), MaxArrayLen)
		}
		b = le.AppendUint64(b, uint64(len(xs)))
		for i, s := range xs {
			if len(s) > MaxStringLen {
				return nil, fmt.Errorf("array element %d: string of %d bytes exceeds the limit of %d", i, len(s), MaxStringLen)
			}
			b = appendString(b, s)
		}
		return b, nil
	case []Value:
		if len(xs) > MaxArrayLen {
			return nil, fmt.Errorf("array of %d elements exceeds the limit of %d", len(xs), MaxArrayLen)
		}
		b = le.AppendUint64(b, uint64(len(xs)))
		for i, x := range xs {
			if x.typ != ValueArray {
				return nil, fmt.Errorf("array element %d is a %v, want an array", i, x.typ)
			}
			var err error
			if b, err = appendValue(b, x, depth+1); err != nil {
				return nil, fmt.Errorf("array element %d: %w", i, err)
			}
		}
		return b, nil
	}
	return appendFixedArray(b, v.x)
}

func appendFixedArray(b []byte, x any) ([]byte, error) {
	le := binary.LittleEndian
	switch xs := x.(type) {
	case []uint8:
		return appendEach(b, xs, func(b []byte, x uint8) []byte { return append(b, x) })
	case []int8:
		return appendEach(b, xs, func(b []byte, x int8) []byte { return append(b, byte(x)) })
	case []bool:
		return appendEach(b, xs, appendBool)
	case []uint16:
		return appendEach(b, xs, le.AppendUint16)
	case []int16:
		return appendEach(b, xs, func(b []byte, x int16) []byte { return le.AppendUint16(b, uint16(x)) })
	case []uint32:
		return appendEach(b, xs, le.AppendUint32)
	case []int32:
		return appendEach(b, xs, func(b []byte, x int32) []byte { return le.AppendUint32(b, uint32(x)) })
	case []float32:
		return appendEach(b, xs, func(b []byte, x float32) []byte { return le.AppendUint32(b, math.Float32bits(x)) })
	case []uint64:
		return appendEach(b, xs, le.AppendUint64)
	case []int64:
		return appendEach(b, xs, func(b []byte, x int64) []byte { return le.AppendUint64(b, uint64(x)) })
	case []float64:
		return appendEach(b, xs, func(b []byte, x float64) []byte { return le.AppendUint64(b, math.Float64bits(x)) })
	}
	return nil, fmt.Errorf("unsupported array %T", x)
}

func appendEach[T any](b []byte, xs []T, app func([]byte, T) []byte) ([]byte, error) {
	if len(xs) > MaxArrayLen {
		return nil, fmt.Errorf("array of %d elements exceeds the limit of %d", len(xs), MaxArrayLen)
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(len(xs)))
	for _, x := range xs {
		b = app(b, x)
	}
	return b, nil
}

func appendBool(b []byte, x bool) []byte {
	if x {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendScalar(b []byte, x any) []byte {
	le := binary.LittleEndian
	switch x := x.(type) {
	case uint8:
		return append(b, x)
	case int8:
		return append(b, byte(x))
	case bool:
		return appendBool(b, x)
	case uint16:
		return le.AppendUint16(b, x)
	case int16:
		return le.AppendUint16(b, uint16(x))
	case uint32:
		return le.AppendUint32(b, x)
	case int32:
		return le.AppendUint32(b, uint32(x))
	case float32:
		return le.AppendUint32(b, math.Float32bits(x))
	case uint64:
		return le.AppendUint64(b, x)
	case int64:
		return le.AppendUint64(b, uint64(x))
	case float64:
		return le.AppendUint64(b, math.Float64bits(x))
	case string:
		return appendString(b, x)
	}
	panic(fmt.Sprintf("gguf: appendScalar of %T", x)) // callers check kindOf first
}

// kindOf maps a Go value held by a Value to its type tag and, for arrays,
// element type; ok is false for Go types no Value may hold.
func kindOf(x any) (typ, elem ValueType, ok bool) {
	switch x.(type) {
	case uint8:
		return ValueUint8, 0, true
	case int8:
		return ValueInt8, 0, true
	case uint16:
		return ValueUint16, 0, true
	case int16:
		return ValueInt16, 0, true
	case uint32:
		return ValueUint32, 0, true
	case int32:
		return ValueInt32, 0, true
	case float32:
		return ValueFloat32, 0, true
	case bool:
		return ValueBool, 0, true
	case string:
		return ValueString, 0, true
	case uint64:
		return ValueUint64, 0, true
	case int64:
		return ValueInt64, 0, true
	case float64:
		return ValueFloat64, 0, true
	case []uint8:
		return ValueArray, ValueUint8, true
	case []int8:
		return ValueArray, ValueInt8, true
	case []uint16:
		return ValueArray, ValueUint16, true
	case []int16:
		return ValueArray, ValueInt16, true
	case []uint32:
		return ValueArray, ValueUint32, true
	case []int32:
		return ValueArray, ValueInt32, true
	case []float32:
		return ValueArray, ValueFloat32, true
	case []bool:
		return ValueArray, ValueBool, true
	case []string:
		return ValueArray, ValueString, true
	case []uint64:
		return ValueArray, ValueUint64, true
	case []int64:
		return ValueArray, ValueInt64, true
	case []float64:
		return ValueArray, ValueFloat64, true
	case []Value:
		return ValueArray, ValueArray, true
	}
	return 0, 0, false
}
