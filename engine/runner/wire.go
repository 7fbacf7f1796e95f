package runner

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// protocolVersion changes whenever a frame's meaning does. Parent and
// child are the same executable, so they agree unless the file was
// replaced between the parent's start and a restart; hello catches that.
const protocolVersion = 1

// maxFrame bounds a frame's body: a batch of embeddings is the largest
// (256 inputs of 4096 floats in JSON is about 10 MiB).
const maxFrame = 64 << 20

// kind says what a frame carries.
type kind byte

const (
	// parent → child
	kindLoad     kind = 1 // body: the load configuration (opaque to this package)
	kindGenerate kind = 2 // body: generateMsg
	kindCancel   kind = 3 // no body: stop request id
	kindEmbed    kind = 4 // body: []engine.EmbedInput
	kindCount    kind = 5 // body: the text, raw
	kindStats    kind = 6 // no body
	kindShutdown kind = 7 // no body: free the model and exit

	// child → parent
	kindHello    kind = 32 // body: helloMsg
	kindReady    kind = 33 // body: readyMsg, or an error
	kindText     kind = 34 // body: a piece of generated text, raw
	kindLogprobs kind = 35 // body: []wireLogprob
	kindDone     kind = 36 // body: doneMsg; the request's last frame
	kindReply    kind = 37 // body: replyMsg, for embed, count and stats
)

const headerSize = 4 + 1 + 8

type frame struct {
	kind kind
	id   uint64
	body []byte
}

// wire reads and writes frames on one connection. Reads come from one
// goroutine; writes from any, one whole frame at a time.
type wire struct {
	c   io.ReadWriteCloser
	r   *bufio.Reader
	wmu sync.Mutex
	buf []byte // reused under wmu
}

func newWire(c io.ReadWriteCloser) *wire {
	return &wire{c: c, r: bufio.NewReaderSize(c, 64<<10)}
}

// sendRaw writes one frame with body as it is, in a single write, so that
// frames of concurrent requests never interleave.
func (w *wire) sendRaw(k kind, id uint64, body []byte) error {
	if len(body) > maxFrame {
		return fmt.Errorf("frame of %d bytes exceeds the limit of %d", len(body), maxFrame)
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	b := w.buf[:0]
	b = binary.BigEndian.AppendUint32(b, uint32(1+8+len(body)))
	b = append(b, byte(k))
	b = binary.BigEndian.AppendUint64(b, id)
	b = append(b, body...)
	w.buf = b[:0]
	_, err := w.c.Write(b)
	return err
}

// send writes one frame whose body is v in JSON (none when v is nil).
func (w *wire) send(k kind, id uint64, v any) error {
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			return fmt.Errorf("encode frame %d: %w", k, err)
		}
	}
	return w.sendRaw(k, id, body)
}

// recv reads the next frame. A frame whose length is out of range ends
// the connection: the other side is broken or not Warden.
func (w *wire) recv() (frame, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(w.r, h[:]); err != nil {
		return frame{}, err
	}
	n := binary.BigEndian.Uint32(h[:4])
	if n < 1+8 || n-9 > maxFrame {
		return frame{}, fmt.Errorf("frame length %d out of range", n)
	}
	f := frame{kind: kind(h[4]), id: binary.BigEndian.Uint64(h[5:])}
	f.body = make([]byte, n-9)
	if _, err := io.ReadFull(w.r, f.body); err != nil {
		return frame{}, fmt.Errorf("read frame body: %w", errors.Join(err, io.ErrUnexpectedEOF))
	}
	return f, nil
}

func (w *wire) close() error { return w.c.Close() }

// decode reads a frame's JSON body into v.
func (f frame) decode(v any) error {
	if err := json.Unmarshal(f.body, v); err != nil {
		return fmt.Errorf("decode frame %d: %w", f.kind, err)
	}
	return nil
}
