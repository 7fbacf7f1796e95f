package gguf_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/warden-llm/warden/engine/gguf"
	"github.com/warden-llm/warden/models/testmodel"
)

// TestTestModelRoundTrip checks the test-model writer against the hardened
// reader: every file it writes passes the reader's checks, and re-encoding
// what the reader saw reproduces the file byte for byte.
func TestTestModelRoundTrip(t *testing.T) {
	spec := testmodel.Demo()
	spec.Layers = 1
	var buf bytes.Buffer
	if err := testmodel.Write(&buf, spec); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	f, err := gguf.Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("reader rejects the test-model writer's output: %v", err)
	}
	if tokens, _ := f.Strings(gguf.KeyTokens); len(tokens) != spec.Vocab {
		t.Errorf("read %d tokens, wrote %d", len(tokens), spec.Vocab)
	}
	enc, err := gguf.NewEncoder(f.KVs, f.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	err = enc.Encode(&again, func(i int, w io.Writer) error {
		ti := f.Tensors[i]
		start := f.DataOffset + int64(ti.Offset)
		_, err := w.Write(data[start : start+int64(ti.Size)])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), data) {
		t.Fatalf("re-encoded file differs: %d bytes, original %d", again.Len(), len(data))
	}
}
