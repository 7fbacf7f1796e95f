package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// raw assembles GGUF bytes by hand so tests can produce what Encoder won't.
type raw []byte

func (r raw) u32(v uint32) raw             { return binary.LittleEndian.AppendUint32(r, v) }
func (r raw) u64(v uint64) raw             { return binary.LittleEndian.AppendUint64(r, v) }
func (r raw) str(s string) raw             { return append(r.u64(uint64(len(s))), s...) }
func (r raw) zeros(n int) raw              { return append(r, make([]byte, n)...) }
func (r raw) kvU32(k string, v uint32) raw { return r.str(k).u32(uint32(ValueUint32)).u32(v) }

// arr appends an array KV of n elements of type elem, each encoded as each.
func (r raw) arr(key string, elem ValueType, n int, each raw) raw {
	r = r.str(key).u32(uint32(ValueArray)).u32(uint32(elem)).u64(uint64(n))
	for range n {
		r = append(r, each...)
	}
	return r
}

// vocab appends the three tokenizer arrays with the given lengths, in their
// proper types.
func (r raw) vocab(tokens, scores, types int) raw {
	return r.arr(KeyTokens, ValueString, tokens, raw{}.str("t")).
		arr(KeyScores, ValueFloat32, scores, raw{}.u32(0)).
		arr(KeyTokenType, ValueInt32, types, raw{}.u32(1))
}

func header(version uint32, nTensors, nKV uint64) raw {
	return raw(Magic).u32(version).u64(nTensors).u64(nKV)
}

func (r raw) tensor(name string, typ GGMLType, offset uint64, dims ...uint64) raw {
	r = r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r = r.u64(d)
	}
	return r.u32(uint32(typ)).u64(offset)
}

// withData pads r to a 32-byte boundary and appends n data bytes.
func (r raw) withData(n int) raw {
	return r.zeros(int(alignUp(uint64(len(r)), 32)) - len(r) + n)
}

func TestReadMalformed(t *testing.T) {
	oneTensor := func(typ GGMLType, offset uint64, dims ...uint64) raw {
		return header(3, 1, 0).tensor("w", typ, offset, dims...)
	}
	// Every case is a distinct malformation and must be named by a distinct
	// message: a precise error is what tells a user what is wrong.
	tests := []struct {
		name string
		data raw
		want string // "" marks a valid control case
	}{
		{"valid", header(3, 2, 1).kvU32("k", 1).tensor("a", TypeF32, 0, 4).tensor("b", TypeF32, 32, 8).withData(64), ""},
		{"valid no tensors", header(3, 0, 0), ""},
		{"empty", nil, "magic needs 4 bytes"},
		{"bad magic", append(raw("GGUX"), header(3, 0, 0)[4:]...), `bad magic "GGUX"`},
		{"version 2", header(2, 0, 0), "unsupported GGUF version 2"},
		{"version 4", header(4, 0, 0), "unsupported GGUF version 4"},
		{"big endian", raw(Magic).u32(3 << 24).u64(0).u64(0), "big-endian"},
		{"huge tensor count", header(3, 1<<40, 0), "tensor count 1099511627776 exceeds"},
		{"tensor count past end", header(3, 1000, 0), "1000 tensors need at least"},
		{"huge kv count", header(3, 0, 1<<62), "metadata count"},
		{"kv count past end", header(3, 0, 2).kvU32("k", 1), "2 metadata pairs"},
		{"huge key length", header(3, 0, 1).u64(1 << 40).zeros(16), "metadata key 0 length 1099511627776 exceeds"},
		{"key past end", header(3, 0, 1).u64(100).zeros(16), "metadata key 0 needs 100 bytes, 16 left"},
		{"huge string value", header(3, 0, 1).str("k").u32(uint32(ValueString)).u64(1 << 60), "string value length"},
		{"huge array count", header(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueUint8)).u64(1 << 40), "array length 1099511627776 exceeds"},
		{"array count past end", header(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueString)).u64(1 << 20).zeros(64), "array of 1048576 STRING needs at least 8388608 bytes"},
		{"array string past end", header(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueString)).u64(1).u64(1 << 20), "array element 0 needs 1048576 bytes"},
		{"unknown value type", header(3, 0, 1).str("k").u32(13).u32(0), `metadata key "k": at byte 37: unknown value type 13`},
		{"unknown element type", header(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(99).u64(0), "unknown array element type 99"},
		{"too deeply nested", nested(MaxArrayDepth + 1), "nested more than"},
		{"duplicate key", header(3, 0, 2).kvU32("k", 1).kvU32("k", 2), `duplicate metadata key "k"`},
		{"empty key", header(3, 0, 1).kvU32("", 1), "metadata key 0: empty metadata key (ggml aborts on it)"},
		{"NUL in key", header(3, 0, 1).kvU32("general.architecture\x00x", 1), `key "general.architecture\x00x" has byte 0x00 at 20`},
		{"non-ASCII key", header(3, 0, 1).kvU32("k\xe9", 1), `key "k\xe9" has byte 0xe9 at 1`},
		{"alignment zero", header(3, 0, 1).kvU32(KeyAlignment, 0), "general.alignment is 0"},
		{"alignment not power of two", header(3, 0, 1).kvU32(KeyAlignment, 24), "general.alignment is 24"},
		{"alignment too large", header(3, 0, 1).kvU32(KeyAlignment, 1<<17), "general.alignment is 131072"},
		{"alignment wrong type", header(3, 0, 1).str(KeyAlignment).u32(uint32(ValueUint64)).u64(32), "has type UINT64, want UINT32"},
		{"zero dims", oneTensor(TypeF32, 0).withData(4), `tensor "w" has 0 dimensions`},
		{"five dims", oneTensor(TypeF32, 0, 1, 1, 1, 1, 1).withData(4), `tensor "w" has 5 dimensions`},
		{"huge dims count", header(3, 1, 0).str("w").u32(1 << 31).zeros(64), `tensor "w" has 2147483648 dimensions`},
		{"zero dim", oneTensor(TypeF32, 0, 4, 0).withData(16), `tensor "w" dimension 1 is 0`},
		{"overflowing dims", oneTensor(TypeF32, 0, 1<<32, 1<<32).withData(16), "more than 2^63-1 elements"},
		{"overflowing bytes", oneTensor(TypeF32, 0, 1<<31, 1<<31).withData(16), "larger than 2^63 bytes"},
		{"unknown ggml type", oneTensor(GGMLType(1000), 0, 32).withData(64), "unknown ggml type 1000"},
		{"retired ggml type", oneTensor(GGMLType(4), 0, 32).withData(64), "unknown ggml type 4"},
		{"partial block", oneTensor(TypeQ4_0, 0, 48).withData(64), "row length 48 is not a multiple"},
		{"empty tensor name", header(3, 1, 0).tensor("", TypeF32, 0, 1).withData(4), "empty tensor name"},
		{"NUL in tensor name", header(3, 1, 0).tensor("w\x00x", TypeF32, 0, 1).withData(4), `tensor name "w\x00x" has byte 0x00 at 1`},
		{"long tensor name", header(3, 1, 0).tensor(strings.Repeat("x", 64), TypeF32, 0, 1).withData(4), "name is 64 bytes"},
		{"duplicate tensor", header(3, 2, 0).tensor("w", TypeF32, 0, 1).tensor("w", TypeF32, 32, 1).withData(64), `duplicate tensor name "w"`},
		{"misaligned offset", header(3, 2, 0).tensor("a", TypeF32, 0, 1).tensor("b", TypeF32, 8, 1).withData(64), `tensor "b" offset 8 is not a multiple of the alignment 32`},
		{"gap before tensor", oneTensor(TypeF32, 64, 1).withData(128), `tensor "w" offset 64, want 0`},
		{"overlapping tensors", header(3, 2, 0).tensor("a", TypeF32, 0, 16).tensor("b", TypeF32, 0, 1).withData(128), `tensor "b" offset 0, want 64`},
		{"tensor past end", oneTensor(TypeF32, 0, 16).withData(63), `tensor "w" data ends at byte 128, past the end of the 127-byte file`},
		{"tensor far past end", oneTensor(TypeF32, 0, 1<<40).withData(64), "extends past the end"},
		{"trailing data", oneTensor(TypeF32, 0, 8).withData(64), "32 bytes of trailing data after the data section, which ends at byte 96"},
		{"valid vocab", header(3, 0, 3).vocab(3, 3, 3), ""},
		{"tokens not strings", header(3, 0, 1).arr(KeyTokens, ValueUint8, 3, raw{0}), "tokenizer.ggml.tokens is ARRAY of UINT8, want an ARRAY of STRING"},
		{"tokens a scalar", header(3, 0, 1).str(KeyTokens).u32(uint32(ValueString)).str("t"), "tokenizer.ggml.tokens is STRING, want"},
		{"empty vocabulary", header(3, 0, 1).arr(KeyTokens, ValueString, 0, nil), "tokenizer.ggml.tokens is empty"},
		{"short scores", header(3, 0, 3).vocab(3, 2, 3), "tokenizer.ggml.scores has 2 entries but tokenizer.ggml.tokens has 3"},
		{"long token types", header(3, 0, 3).vocab(3, 3, 4), "tokenizer.ggml.token_type has 4 entries but tokenizer.ggml.tokens has 3"},
		{"scores as doubles", header(3, 0, 2).arr(KeyTokens, ValueString, 1, raw{}.str("t")).arr(KeyScores, ValueFloat64, 1, raw{}.u64(0)),
			"tokenizer.ggml.scores is ARRAY of FLOAT64, want an ARRAY of FLOAT32"},
		{"token types unsigned", header(3, 0, 2).arr(KeyTokens, ValueString, 1, raw{}.str("t")).arr(KeyTokenType, ValueUint32, 1, raw{}.u32(1)),
			"tokenizer.ggml.token_type is ARRAY of UINT32, want an ARRAY of INT32"},
		{"scores without tokens", header(3, 0, 1).arr(KeyScores, ValueFloat32, 1, raw{}.u32(0)), "tokenizer.ggml.scores is present without tokenizer.ggml.tokens"},
		{"merges not strings", header(3, 0, 2).arr(KeyTokens, ValueString, 1, raw{}.str("t")).arr(KeyMerges, ValueInt32, 1, raw{}.u32(0)),
			"tokenizer.ggml.merges is ARRAY of INT32, want an ARRAY of STRING"},
	}
	msgs := map[string]string{} // FormatError message -> case, to keep them distinct
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Read(bytes.NewReader(tt.data), int64(len(tt.data)))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("valid input rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %d KVs, %d tensors", len(f.KVs), len(f.Tensors))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FormatError", err)
			}
			if other, dup := msgs[fe.Msg]; dup {
				t.Errorf("cases %q and %q give the same message %q", other, tt.name, fe.Msg)
			}
			msgs[fe.Msg] = tt.name
		})
	}
}

// nested returns a one-KV file whose value is depth arrays of arrays deep.
func nested(depth int) raw {
	r := header(3, 0, 1).str("k").u32(uint32(ValueArray))
	for range depth - 1 {
		r = r.u32(uint32(ValueArray)).u64(1)
	}
	return r.u32(uint32(ValueUint8)).u64(0)
}

func TestReadNestingLimit(t *testing.T) {
	data := nested(MaxArrayDepth)
	f, err := Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("%d-deep arrays rejected: %v", MaxArrayDepth, err)
	}
	v, _ := f.Lookup("k")
	for range MaxArrayDepth - 1 {
		v = v.Any().([]Value)[0]
	}
	if v.ElemType() != ValueUint8 {
		t.Errorf("innermost array has element type %v", v.ElemType())
	}
}

// TestReadTruncated cuts a valid file at every byte short of the end of the
// last tensor's data; each prefix must be rejected.
func TestReadTruncated(t *testing.T) {
	_, data := encodeSample(t, sampleKVs(), sampleTensors())
	f, err := Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	last := f.Tensors[len(f.Tensors)-1]
	end := f.DataOffset + int64(last.Offset+last.Size)
	for n := range end {
		if _, err := Read(bytes.NewReader(data[:n]), n); err == nil {
			t.Fatalf("file truncated to %d of %d bytes accepted", n, end)
		}
	}
	if _, err := Read(bytes.NewReader(data[:end]), end); err != nil {
		t.Errorf("file without final padding rejected: %v", err)
	}
}

// TestReadShortInput claims a size larger than the input holds, as with a
// file that shrinks while being read.
func TestReadShortInput(t *testing.T) {
	_, data := encodeSample(t, sampleKVs(), sampleTensors())
	_, err := Read(bytes.NewReader(data[:100]), int64(len(data)))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Read of a short ReaderAt: %v, want io.ErrUnexpectedEOF", err)
	}
}
