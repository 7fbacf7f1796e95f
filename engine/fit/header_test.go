package fit

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/warden-llm/warden/engine/gguf"
)

// headerOnly encodes kvs and tensors and reads the result back through a
// reader that has the header but not a byte of tensor data (every data
// read returns an error), so that an estimate from it shows it needs the
// header alone. The GGUF reader still sees the full file size.
func headerOnly(t *testing.T, kvs []gguf.KV, tensors []gguf.TensorInfo) *gguf.File {
	t.Helper()
	enc, err := gguf.NewEncoder(kvs, tensors)
	if err != nil {
		t.Fatal(err)
	}
	head := &prefixSink{limit: enc.DataOffset()}
	captured := func() bool { return int64(head.buf.Len()) >= head.limit }
	errEnough := errors.New("header captured")
	tensorInfos := enc.Tensors()
	zeros := make([]byte, 64<<10)
	err = enc.Encode(head, func(i int, w io.Writer) error {
		// The encoder buffers its output: feed it data until the header
		// has passed through, then stop.
		for left := tensorInfos[i].Size; left > 0 && !captured(); {
			n := min(left, uint64(len(zeros)))
			if _, err := w.Write(zeros[:n]); err != nil {
				return err
			}
			left -= n
		}
		if captured() {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) && err != nil {
		t.Fatal(err)
	}
	if int64(head.buf.Len()) != enc.DataOffset() {
		t.Fatalf("captured %d header bytes, want %d", head.buf.Len(), enc.DataOffset())
	}
	f, err := gguf.Read(&headerReader{head: head.buf.Bytes()}, enc.Size())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// prefixSink keeps the first limit bytes written to it.
type prefixSink struct {
	buf   bytes.Buffer
	limit int64
}

func (s *prefixSink) Write(p []byte) (int, error) {
	if room := s.limit - int64(s.buf.Len()); room > 0 {
		s.buf.Write(p[:min(int64(len(p)), room)])
	}
	return len(p), nil
}

// headerReader serves the header and fails any read past it. The GGUF
// reader reads ahead, so a read that starts in the header gets the header's
// part before the error.
type headerReader struct{ head []byte }

func (r *headerReader) ReadAt(p []byte, off int64) (int, error) {
	var n int
	if off < int64(len(r.head)) {
		n = copy(p, r.head[off:])
	}
	if n < len(p) {
		return n, errors.New("read of tensor data: the estimate must not need it")
	}
	return n, nil
}
