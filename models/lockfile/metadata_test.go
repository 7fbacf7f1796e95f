package lockfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/warden-llm/warden/engine/gguf"
	"github.com/warden-llm/warden/models/testmodel"
)

// header encodes a GGUF file with zeroed tensor data and parses it back.
func header(t *testing.T, kvs []gguf.KV, tensors []gguf.TensorInfo) *gguf.File {
	t.Helper()
	enc, err := gguf.NewEncoder(kvs, tensors)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err = enc.Encode(&buf, func(i int, w io.Writer) error {
		_, err := w.Write(make([]byte, enc.Tensors()[i].Size))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDescribeTestModel(t *testing.T) {
	s := testmodel.Demo()
	kvs, tensors, err := testmodel.Header(s)
	if err != nil {
		t.Fatal(err)
	}
	m := Describe(header(t, kvs, tensors))
	embd, ffn, vocab, layers := uint64(s.Embd), uint64(s.FFN), uint64(s.Vocab), uint64(s.Layers)
	kv := embd / uint64(s.Heads) * uint64(s.HeadsKV)
	params := 2*embd*vocab + embd + layers*(2*embd+2*embd*embd+2*embd*kv+3*embd*ffn)
	tmpl := sha256.Sum256([]byte(testmodel.ChatMLTemplate))
	want := Metadata{
		Architecture: "llama", Parameters: params, FileType: "Q8_0", ContextLength: uint64(s.Context),
		ChatTemplateSHA256: hex.EncodeToString(tmpl[:]),
	}
	if m != want {
		t.Errorf("Describe:\n got %+v\nwant %+v", m, want)
	}
}

func TestDescribeFileType(t *testing.T) {
	tensors := []gguf.TensorInfo{
		{Name: "big", Type: gguf.TypeQ4_0, Dims: []uint64{256, 4}},
		{Name: "norm", Type: gguf.TypeF32, Dims: []uint64{64}},
	}
	tests := []struct {
		name string
		kvs  []gguf.KV
		want string
	}{
		{"ftype Q4_K_M", []gguf.KV{{Key: "general.file_type", Value: gguf.Scalar(uint32(15))}}, "Q4_K_M"},
		{"retired ftype", []gguf.KV{{Key: "general.file_type", Value: gguf.Scalar(uint32(4))}}, "ftype 4"},
		{"no ftype: the type with most bytes", nil, "Q4_0"},
	}
	for _, tt := range tests {
		m := Describe(header(t, tt.kvs, tensors))
		if m.FileType != tt.want {
			t.Errorf("%s: file type %q, want %q", tt.name, m.FileType, tt.want)
		}
		if m.ChatTemplateSHA256 != NoChatTemplate || m.Architecture != "" || m.ContextLength != 0 {
			t.Errorf("%s: %+v", tt.name, m)
		}
	}
}

func TestCheckMetadata(t *testing.T) {
	m := Metadata{Architecture: "llama", Parameters: 1000, FileType: "Q8_0", ContextLength: 2048, ChatTemplateSHA256: sampleSHA}
	e := Entry{Name: "m"}
	if err := e.CheckMetadata(m); err != nil {
		t.Errorf("an entry without header fields checks nothing, got %v", err)
	}
	e.Fill(m)
	if err := e.CheckMetadata(m); err != nil {
		t.Errorf("filled entry refused: %v", err)
	}
	other := m
	other.Architecture, other.ChatTemplateSHA256 = "qwen2", NoChatTemplate
	err := e.CheckMetadata(other)
	for _, want := range []string{
		`model "m": the file's header contradicts its lockfile entry`,
		"architecture is qwen2 in the file, llama in the lockfile",
		"chat_template_sha256 is none in the file, " + sampleSHA + " in the lockfile",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "file_type") {
		t.Errorf("error names a field that agrees: %v", err)
	}
}
