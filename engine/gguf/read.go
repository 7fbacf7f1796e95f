package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Read parses and validates the GGUF header of the size-byte input r. It
// reads only the header; tensor data is checked to lie within size but is
// never read.
func Read(r io.ReaderAt, size int64) (*File, error) {
	if size < 0 {
		return nil, fmt.Errorf("gguf: negative size %d", size)
	}
	d := &decoder{
		r:    bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10),
		size: size,
	}
	f, err := d.file()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	return f, nil
}

// decoder reads the header sequentially, tracking its offset so that every
// length can be checked against the bytes left in the input.
type decoder struct {
	r       *bufio.Reader
	off     int64
	size    int64
	scratch [8]byte
}

func (d *decoder) errorf(format string, args ...any) error {
	return &FormatError{Offset: d.off, Msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) left() uint64 { return uint64(d.size - d.off) }

// need fails unless n more bytes remain; what names the item for the error.
func (d *decoder) need(n uint64, what string) error {
	if n > d.left() {
		return d.errorf("truncated: %s needs %d bytes, %d left", what, n, d.left())
	}
	return nil
}

// bytes reads n bytes into a fresh slice after checking they exist.
func (d *decoder) bytes(n uint64, what string) ([]byte, error) {
	if err := d.need(n, what); err != nil {
		return nil, err
	}
	b := make([]byte, n)
	return b, d.fill(b)
}

// fixed reads a small fixed-size item into scratch space; the result is
// only valid until the next read.
func (d *decoder) fixed(n int, what string) ([]byte, error) {
	if err := d.need(uint64(n), what); err != nil {
		return nil, err
	}
	b := d.scratch[:n]
	return b, d.fill(b)
}

func (d *decoder) fill(b []byte) error {
	if _, err := io.ReadFull(d.r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("at byte %d: %w", d.off, err)
	}
	d.off += int64(len(b))
	return nil
}

func (d *decoder) u32(what string) (uint32, error) {
	b, err := d.fixed(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64(what string) (uint64, error) {
	b, err := d.fixed(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (d *decoder) str(what string) (string, error) {
	n, err := d.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > MaxStringLen {
		return "", d.errorf("%s length %d exceeds the limit of %d", what, n, MaxStringLen)
	}
	b, err := d.bytes(n, what)
	return string(b), err
}

func (d *decoder) file() (*File, error) {
	magic, err := d.fixed(4, "magic")
	if err != nil {
		return nil, err
	}
	if string(magic) != Magic {
		return nil, d.errorf("bad magic %q, want %q", magic, Magic)
	}
	version, err := d.u32("version")
	if err != nil {
		return nil, err
	}
	if version != Version {
		if version == 3<<24 {
			return nil, d.errorf("big-endian GGUF files are not supported")
		}
		return nil, d.errorf("unsupported GGUF version %d, want %d", version, Version)
	}
	nTensors, err := d.u64("tensor count")
	if err != nil {
		return nil, err
	}
	nKV, err := d.u64("metadata count")
	if err != nil {
		return nil, err
	}
	if nTensors > MaxTensors {
		return nil, d.errorf("tensor count %d exceeds the limit of %d", nTensors, MaxTensors)
	}
	if nKV > MaxKVs {
		return nil, d.errorf("metadata count %d exceeds the limit of %d", nKV, MaxKVs)
	}
	// Smallest encodings: a KV is an empty key, a type and a 1-byte value; a
	// tensor info is a 1-byte name, one dimension, a type and an offset.
	if least := nKV*(8+4+1) + nTensors*(8+1+4+8+4+8); least > d.left() {
		return nil, d.errorf("truncated: %d metadata pairs and %d tensors need at least %d bytes, %d left",
			nKV, nTensors, least, d.left())
	}
	f := &File{Version: version}
	if err := d.readKVs(f, int(nKV)); err != nil {
		return nil, err
	}
	if err := d.readTensors(f, int(nTensors)); err != nil {
		return nil, err
	}
	return f, nil
}

func (d *decoder) readKVs(f *File, n int) error {
	f.KVs = make([]KV, 0, n)
	f.kvIndex = make(map[string]int, n)
	for i := range n {
		key, err := d.str(fmt.Sprintf("metadata key %d", i))
		if err != nil {
			return err
		}
		if err := checkKey(key); err != nil {
			return d.errorf("metadata key %d: %v", i, err)
		}
		if _, dup := f.kvIndex[key]; dup {
			return d.errorf("duplicate metadata key %q", key)
		}
		t, err := d.u32("value type")
		if err != nil {
			return fmt.Errorf("metadata key %q: %w", key, err)
		}
		v, err := d.value(ValueType(t), 0)
		if err != nil {
			return fmt.Errorf("metadata key %q: %w", key, err)
		}
		f.kvIndex[key] = len(f.KVs)
		f.KVs = append(f.KVs, KV{Key: key, Value: v})
	}
	f.Alignment = DefaultAlignment
	if v, ok := f.Lookup(KeyAlignment); ok {
		// ggml insists on UINT32 here and aborts otherwise.
		a, isU32 := v.x.(uint32)
		if !isU32 {
			return d.errorf("%s has type %v, want UINT32", KeyAlignment, v.typ)
		}
		if !validAlignment(uint64(a)) {
			return d.errorf("%s is %d, want a power of two no larger than %d", KeyAlignment, a, MaxAlignment)
		}
		f.Alignment = uint64(a)
	}
	if err := checkTokenizer(f.Lookup); err != nil {
		return d.errorf("%v", err)
	}
	return nil
}

// value reads a value of type t; depth counts enclosing arrays.
func (d *decoder) value(t ValueType, depth int) (Value, error) {
	switch {
	case t == ValueArray:
		return d.array(depth)
	case t == ValueString:
		s, err := d.str("string value")
		return Value{typ: t, x: s}, err
	case !t.Known():
		return Value{}, d.errorf("unknown value type %d", uint32(t))
	}
	b, err := d.fixed(t.fixedSize(), t.String()+" value")
	if err != nil {
		return Value{}, err
	}
	return Value{typ: t, x: decodeScalar(t, b)}, nil
}

func (d *decoder) array(depth int) (Value, error) {
	et, err := d.u32("array element type")
	if err != nil {
		return Value{}, err
	}
	elem := ValueType(et)
	if !elem.Known() {
		return Value{}, d.errorf("unknown array element type %d", et)
	}
	if elem == ValueArray && depth+1 >= MaxArrayDepth {
		return Value{}, d.errorf("arrays nested more than %d deep", MaxArrayDepth)
	}
	n, err := d.u64("array length")
	if err != nil {
		return Value{}, err
	}
	if n > MaxArrayLen {
		return Value{}, d.errorf("array length %d exceeds the limit of %d", n, MaxArrayLen)
	}
	// n ≤ 2^24 and minSize ≤ 12, so this cannot overflow.
	if least := n * uint64(elem.minSize()); least > d.left() {
		return Value{}, d.errorf("truncated: array of %d %v needs at least %d bytes, %d left", n, elem, least, d.left())
	}
	x, err := d.arrayElems(elem, int(n), depth)
	if err != nil {
		return Value{}, err
	}
	return Value{typ: ValueArray, elem: elem, x: x}, nil
}

func (d *decoder) arrayElems(elem ValueType, n, depth int) (any, error) {
	le := binary.LittleEndian
	switch elem {
	case ValueUint8:
		return fixedArray(d, n, 1, func(b []byte) uint8 { return b[0] })
	case ValueInt8:
		return fixedArray(d, n, 1, func(b []byte) int8 { return int8(b[0]) })
	case ValueBool:
		return fixedArray(d, n, 1, func(b []byte) bool { return b[0] != 0 })
	case ValueUint16:
		return fixedArray(d, n, 2, le.Uint16)
	case ValueInt16:
		return fixedArray(d, n, 2, func(b []byte) int16 { return int16(le.Uint16(b)) })
	case ValueUint32:
		return fixedArray(d, n, 4, le.Uint32)
	case ValueInt32:
		return fixedArray(d, n, 4, func(b []byte) int32 { return int32(le.Uint32(b)) })
	case ValueFloat32:
		return fixedArray(d, n, 4, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) })
	case ValueUint64:
		return fixedArray(d, n, 8, le.Uint64)
	case ValueInt64:
		return fixedArray(d, n, 8, func(b []byte) int64 { return int64(le.Uint64(b)) })
	case ValueFloat64:
		return fixedArray(d, n, 8, func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) })
	case ValueString:
		xs := make([]string, n)
		for i := range xs {
			s, err := d.str(fmt.Sprintf("array element %d", i))
			if err != nil {
				return nil, err
			}
			xs[i] = s
		}
		return xs, nil
	default: // ValueArray
		xs := make([]Value, n)
		for i := range xs {
			v, err := d.array(depth + 1)
			if err != nil {
				return nil, fmt.Errorf("array element %d: %w", i, err)
			}
			xs[i] = v
		}
		return xs, nil
	}
}

func fixedArray[T any](d *decoder, n, size int, decode func([]byte) T) ([]T, error) {
	xs := make([]T, n)
	for i := range xs {
		b, err := d.fixed(size, "array element")
		if err != nil {
			return nil, err
		}
		xs[i] = decode(b)
	}
	return xs, nil
}

func decodeScalar(t ValueType, b []byte) any {
	le := binary.LittleEndian
	switch t {
	case ValueUint8:
		return b[0]
	case ValueInt8:
		return int8(b[0])
	case ValueBool:
		return b[0] != 0 // like ggml, any non-zero byte is true
	case ValueUint16:
		return le.Uint16(b)
	case ValueInt16:
		return int16(le.Uint16(b))
	case ValueUint32:
		return le.Uint32(b)
	case ValueInt32:
		return int32(le.Uint32(b))
	case ValueFloat32:
		return math.Float32frombits(le.Uint32(b))
	case ValueUint64:
		return le.Uint64(b)
	case ValueInt64:
		return int64(le.Uint64(b))
	default: // ValueFloat64
		return math.Float64frombits(le.Uint64(b))
	}
}

func (d *decoder) readTensors(f *File, n int) error {
	f.Tensors = make([]TensorInfo, 0, n)
	f.tensorIndex = make(map[string]int, n)
	var next uint64 // where ggml expects the next tensor's data
	for i := range n {
		t, err := d.tensorInfo(i)
		if err != nil {
			return err
		}
		if _, dup := f.tensorIndex[t.Name]; dup {
			return d.errorf("duplicate tensor name %q", t.Name)
		}
		if t.Size, err = checkTensor(t); err != nil {
			return d.errorf("%v", err)
		}
		if t.Offset%f.Alignment != 0 {
			return d.errorf("tensor %q offset %d is not a multiple of the alignment %d", t.Name, t.Offset, f.Alignment)
		}
		if t.Offset != next {
			return d.errorf("tensor %q offset %d, want %d (tensor data must be contiguous and in order)", t.Name, t.Offset, next)
		}
		// The data section starts after the header, so data that ends past
		// the input size is out of bounds whatever the header length.
		if size := uint64(d.size); t.Offset > size || t.Size > size-t.Offset {
			return d.errorf("tensor %q data (%d bytes at data offset %d) extends past the end of the %d-byte file",
				t.Name, t.Size, t.Offset, size)
		}
		next = t.Offset + alignUp(t.Size, f.Alignment)
		f.tensorIndex[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}
	data := alignUp(uint64(d.off), f.Alignment)
	f.DataOffset = int64(data)
	for _, t := range f.Tensors {
		if end := data + t.Offset + t.Size; end > uint64(d.size) {
			return d.errorf("tensor %q data ends at byte %d, past the end of the %d-byte file", t.Name, end, d.size)
		}
	}
	// Bytes past the padded data section are not part of any tensor: no
	// writer produces them, and they could smuggle content past a review
	// of the header.
	if end := data + next; uint64(d.size) > end {
		return d.errorf("%d bytes of trailing data after the data section, which ends at byte %d", uint64(d.size)-end, end)
	}
	return nil
}

// tensorInfo reads one tensor info; only the shape count is checked here,
// the rest is left to checkTensor.
func (d *decoder) tensorInfo(i int) (TensorInfo, error) {
	var t TensorInfo
	var err error
	if t.Name, err = d.str(fmt.Sprintf("tensor %d name", i)); err != nil {
		return t, err
	}
	if len(t.Name) > MaxTensorName {
		return t, d.errorf("tensor %d name is %d bytes, more than %d", i, len(t.Name), MaxTensorName)
	}
	nDims, err := d.u32("dimension count")
	if err != nil {
		return t, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if nDims < 1 || nDims > MaxDims {
		return t, d.errorf("tensor %q has %d dimensions, want 1 to %d", t.Name, nDims, MaxDims)
	}
	t.Dims = make([]uint64, nDims)
	for j := range t.Dims {
		if t.Dims[j], err = d.u64("dimension"); err != nil {
			return t, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
	}
	typ, err := d.u32("tensor type")
	if err != nil {
		return t, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	t.Type = GGMLType(typ)
	if t.Offset, err = d.u64("tensor offset"); err != nil {
		return t, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return t, nil
}
