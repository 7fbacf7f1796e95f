// Package gguf reads and writes GGUF v3 files, the container format of
// llama.cpp models: a little-endian header of ordered metadata key-value
// pairs and tensor descriptions, followed by an aligned data section.
//
// Read and Open parse and validate only the header; tensor data is never
// loaded. The reader treats its input as hostile: every length and count is
// checked against the bytes that remain before anything is allocated, counts
// are capped (see the Max constants), the tokenizer arrays llama.cpp indexes
// by token id must agree in length and type, and the tensor layout must be
// exactly the contiguous, aligned one ggml itself requires, with nothing
// after it. Encoder writes files that satisfy the same rules, streaming
// tensor data from callbacks.
package gguf

import (
	"errors"
	"fmt"
	"os"
	"slices"
)

// Format constants and the limits the reader enforces. The limits are far
// above what real models use (tens of thousands of KVs or tensors would be
// unheard of; the largest vocabularies have a few hundred thousand entries)
// and keep memory use proportional to the input size.
const (
	Magic            = "GGUF"
	Version          = 3
	DefaultAlignment = 32

	MaxAlignment    = 1 << 16 // largest accepted general.alignment
	MaxTensors      = 1 << 16 // tensor infos per file
	MaxKVs          = 1 << 16 // metadata pairs per file
	MaxStringLen    = 1 << 24 // bytes in one string (keys, values, names)
	MaxArrayLen     = 1 << 24 // elements in one array
	MaxArrayDepth   = 4       // nesting of arrays of arrays
	MaxDims         = 4       // ggml's GGML_MAX_DIMS
	MaxTensorName   = 63      // ggml's GGML_MAX_NAME less its NUL terminator
	KeyAlignment    = "general.alignment"
	KeyArchitecture = "general.architecture"
)

// TensorInfo describes one tensor of a GGUF file.
type TensorInfo struct {
	Name string
	Type GGMLType
	// Dims is the shape in ggml order: Dims[0] is the innermost (row) length.
	Dims []uint64
	// Offset is the start of the tensor's data relative to File.DataOffset.
	Offset uint64
	// Size is the tensor's data size in bytes, excluding alignment padding.
	Size uint64
}

// Elements returns the number of elements of t.
func (t TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is a parsed GGUF header. Treat it as read-only: the lookup methods
// use indexes built when the file was read.
type File struct {
	Version uint32
	// KVs holds the metadata in file order.
	KVs []KV
	// Tensors holds the tensor infos in file order.
	Tensors []TensorInfo
	// Alignment is the data alignment (general.alignment or the default).
	Alignment uint64
	// DataOffset is the absolute file offset where tensor data begins.
	DataOffset int64

	kvIndex     map[string]int
	tensorIndex map[string]int
}

// Open reads the header of the GGUF file at path.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, err
	}
	f, err := Read(fd, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Lookup returns the value stored under key.
func (f *File) Lookup(key string) (Value, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return Value{}, false
	}
	return f.KVs[i].Value, true
}

// String returns the STRING value stored under key.
func (f *File) String(key string) (string, bool) {
	v, _ := f.Lookup(key)
	s, ok := v.x.(string)
	return s, ok
}

// Uint returns the integer value stored under key, of any integer type, if
// it is non-negative.
func (f *File) Uint(key string) (uint64, bool) {
	v, ok := f.Lookup(key)
	if !ok {
		return 0, false
	}
	return v.asUint()
}

// Int returns the integer value stored under key, of any integer type, if
// it fits in an int64.
func (f *File) Int(key string) (int64, bool) {
	v, ok := f.Lookup(key)
	if !ok {
		return 0, false
	}
	return v.asInt()
}

// Float returns the FLOAT32 or FLOAT64 value stored under key.
func (f *File) Float(key string) (float64, bool) {
	v, _ := f.Lookup(key)
	switch x := v.x.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// Bool returns the BOOL value stored under key.
func (f *File) Bool(key string) (bool, bool) {
	v, _ := f.Lookup(key)
	b, ok := v.x.(bool)
	return b, ok
}

// Strings returns a copy of the array of strings stored under key.
func (f *File) Strings(key string) ([]string, bool) {
	v, _ := f.Lookup(key)
	ss, ok := v.x.([]string)
	return slices.Clone(ss), ok
}

// Architecture returns general.architecture, or "" if it is absent.
func (f *File) Architecture() string {
	s, _ := f.String(KeyArchitecture)
	return s
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.tensorIndex[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// FormatError reports input that is not a valid GGUF v3 file.
type FormatError struct {
	Offset int64 // byte offset at which the problem was detected
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("at byte %d: %s", e.Offset, e.Msg)
}

// alignUp rounds n up to a multiple of align, a power of two.
func alignUp(n, align uint64) uint64 {
	return (n + align - 1) &^ (align - 1)
}

// validAlignment reports whether a is an acceptable general.alignment.
func validAlignment(a uint64) bool {
	return a != 0 && a&(a-1) == 0 && a <= MaxAlignment
}

// checkKey validates a metadata key. Reader and Encoder share it.
//
// ggml aborts the whole process on an empty key (GGML_ASSERT(!key.empty())
// in gguf_kv's constructor), so an empty key must never reach it. ggml also
// looks keys up with strcmp, so a key with a NUL byte would answer to a
// shorter name in llama.cpp while Go reads it under its full name, and the
// two parsers would disagree about the metadata; control and non-ASCII
// bytes are refused with it, as the GGUF specification makes keys ASCII.
func checkKey(key string) error {
	if key == "" {
		return errors.New("empty metadata key (ggml aborts on it)")
	}
	if i := badNameByte(key); i >= 0 {
		return fmt.Errorf("metadata key %q has byte 0x%02x at %d; keys must be printable ASCII", key, key[i], i)
	}
	return nil
}

// badNameByte returns the index of the first byte of s that is not
// printable ASCII, or -1.
func badNameByte(s string) int {
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return i
		}
	}
	return -1
}

// checkTensor validates a tensor's name, shape and type and returns its
// data size. Reader and Encoder share it so anything written can be read.
func checkTensor(t TensorInfo) (uint64, error) {
	if t.Name == "" {
		return 0, fmt.Errorf("empty tensor name")
	}
	if len(t.Name) > MaxTensorName {
		return 0, fmt.Errorf("tensor name is %d bytes, more than %d", len(t.Name), MaxTensorName)
	}
	// ggml copies names with strncpy and compares them with strcmp: a NUL
	// would cut the name short there but not here.
	if i := badNameByte(t.Name); i >= 0 {
		return 0, fmt.Errorf("tensor name %q has byte 0x%02x at %d; names must be printable ASCII", t.Name, t.Name[i], i)
	}
	if len(t.Dims) < 1 || len(t.Dims) > MaxDims {
		return 0, fmt.Errorf("tensor %q has %d dimensions, want 1 to %d", t.Name, len(t.Dims), MaxDims)
	}
	for i, d := range t.Dims {
		if d == 0 {
			return 0, fmt.Errorf("tensor %q dimension %d is 0", t.Name, i)
		}
	}
	size, err := t.Type.TensorSize(t.Dims)
	if err != nil {
		return 0, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return size, nil
}
