package gguf

import (
	"bytes"
	"io"
	"testing"
)

// FuzzRead checks that Read and CheckModel never panic and that whatever
// Read accepts can be written back by Encoder into a file that reads back
// identically.
func FuzzRead(f *testing.F) {
	_, sample := encodeSample(f, sampleKVs(), sampleTensors())
	f.Add(sample)
	_, small := encodeSample(f, []KV{{KeyAlignment, Scalar(uint32(8))}, {"s", Array([]string{"a", "b"})}},
		[]TensorInfo{{Name: "q", Type: TypeQ4_0, Dims: []uint64{32}}})
	f.Add(small)
	f.Add([]byte(nested(MaxArrayDepth)))
	f.Add([]byte(header(3, 0, 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Read(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		_ = CheckModel(file) // must only answer, never panic
		enc, err := NewEncoder(file.KVs, file.Tensors)
		if err != nil {
			t.Fatalf("accepted file cannot be re-encoded: %v", err)
		}
		if enc.DataOffset() != file.DataOffset {
			t.Fatalf("re-encoded data offset %d, read %d", enc.DataOffset(), file.DataOffset)
		}
		copyData := func(i int, w io.Writer) error {
			ti := file.Tensors[i]
			start := file.DataOffset + int64(ti.Offset)
			_, err := w.Write(data[start : start+int64(ti.Size)])
			return err
		}
		var out bytes.Buffer
		if err := enc.Encode(&out, copyData); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := Read(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("re-encoded file rejected: %v", err)
		}
		enc2, err := NewEncoder(again.KVs, again.Tensors)
		if err != nil {
			t.Fatal(err)
		}
		var out2 bytes.Buffer
		if err := enc2.Encode(&out2, copyData); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), out2.Bytes()) {
			t.Fatal("encode(read(x)) is not stable")
		}
		// Except for padding, Encoder reproduces the accepted header.
		if !bytes.Equal(out.Bytes()[:24], data[:24]) {
			t.Fatalf("fixed header changed: % x -> % x", data[:24], out.Bytes()[:24])
		}
	})
}
