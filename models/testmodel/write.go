package testmodel

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/warden-llm/warden/engine/gguf"
)

// chunkElems is how many elements of a tensor are generated as one unit of
// parallel work, each from its own random stream. It is part of the output
// format: changing it changes every weight. It is a multiple of the 32-value
// quantization block, so blocks never straddle chunks.
const chunkElems = 1 << 18

// weightStd is the standard deviation of the random weights, the usual
// initialization scale for llama models; it keeps activations well inside
// the range of every type.
const weightStd = 0.02

// Write generates the model s describes and writes it to w as GGUF.
// Weights are generated on up to GOMAXPROCS goroutines while earlier
// tensors are being written, so memory stays bounded whatever the size.
func Write(w io.Writer, s Spec) error {
	return write(w, s, runtime.GOMAXPROCS(0))
}

// write is Write with a given number of generator goroutines, which must
// not affect the output.
func write(w io.Writer, s Spec, workers int) error {
	kvs, infos, err := Header(s)
	if err != nil {
		return err
	}
	enc, err := gguf.NewEncoder(kvs, infos)
	if err != nil {
		return fmt.Errorf("model %q: %w", s.Name, err)
	}
	g := startGenerator(s.Seed, tensorSpecs(s), workers)
	defer g.stop()
	if err := enc.Encode(w, g.writeTensor); err != nil {
		return fmt.Errorf("model %q: %w", s.Name, err)
	}
	return nil
}

// WriteFile writes the model to path atomically (through a temporary file
// in the same directory, renamed into place) and returns the SHA-256 of the
// file in hex and its size.
func WriteFile(path string, s Spec) (sum string, size int64, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return "", 0, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(tmp, h)}
	if err := Write(cw, s); err != nil {
		return "", 0, fmt.Errorf("write %s: %w", path, err)
	}
	// Sync before rename so a crash cannot leave a complete-looking name
	// pointing at incomplete data.
	if err := tmp.Sync(); err != nil {
		return "", 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return "", 0, fmt.Errorf("write %s: %w", path, err)
	}
	// CreateTemp makes the file private; a model file is ordinary data.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// job is one chunk of one tensor; its encoded bytes arrive on out.
type job struct {
	tensor int
	first  uint64 // index of the chunk's first element
	n      int
	out    chan result
}

type result struct {
	data []byte
	err  error
}

// generator produces tensor chunks on worker goroutines and hands them to
// the writer in file order. The producer queues each job for the writer
// after giving it to a worker, and the queue is bounded, so at most
// workers + cap(queue) + 1 chunks are in memory.
type generator struct {
	seed    uint64
	tensors []tensorSpec
	queue   chan *job // jobs in file order
	done    chan struct{}
	wg      sync.WaitGroup
}

func startGenerator(seed uint64, tensors []tensorSpec, workers int) *generator {
	g := &generator{
		seed:    seed,
		tensors: tensors,
		queue:   make(chan *job, 2*workers),
		done:    make(chan struct{}),
	}
	work := make(chan *job)
	g.wg.Add(1 + workers)
	go g.produce(work)
	for range workers {
		go g.work(work)
	}
	return g
}

func (g *generator) produce(work chan<- *job) {
	defer g.wg.Done()
	defer close(work)
	for i, t := range g.tensors {
		n := t.info.Elements()
		for first := uint64(0); first < n; first += chunkElems {
			j := &job{tensor: i, first: first, n: int(min(chunkElems, n-first)), out: make(chan result, 1)}
			select {
			case work <- j:
			case <-g.done:
				return
			}
			select {
			case g.queue <- j:
			case <-g.done:
				return
			}
		}
	}
}

func (g *generator) work(jobs <-chan *job) {
	defer g.wg.Done()
	scratch := make([]float32, chunkElems)
	for j := range jobs {
		t := g.tensors[j.tensor]
		x := scratch[:j.n]
		if t.random {
			fillUniform(x, g.seed, t.info.Name, j.first/chunkElems)
		} else {
			for i := range x {
				x[i] = 1
			}
		}
		size := j.n / t.info.Type.BlockSize() * t.info.Type.TypeSize()
		data, err := Quantize(make([]byte, 0, size), t.info.Type, x)
		j.out <- result{data, err} // buffered: never blocks
	}
}

// writeTensor is the gguf.Encoder callback: it writes tensor i's chunks.
func (g *generator) writeTensor(i int, w io.Writer) error {
	n := g.tensors[i].info.Elements()
	for first := uint64(0); first < n; first += chunkElems {
		j, ok := <-g.queue
		if !ok || j.tensor != i || j.first != first {
			return errors.New("internal error: chunks out of order")
		}
		r := <-j.out
		if r.err != nil {
			return r.err
		}
		if _, err := w.Write(r.data); err != nil {
			return err
		}
	}
	return nil
}

// stop ends generation early if the writer failed and waits for the
// goroutines to exit.
func (g *generator) stop() {
	close(g.done)
	g.wg.Wait()
}

// fillUniform fills x with uniform values of mean 0 and standard deviation
// weightStd, from a PCG stream keyed by the seed, tensor name and chunk.
// Keying by name and chunk lets any chunk be generated independently.
// It uses the PCG outputs directly, not rand.Rand's derived methods, whose
// algorithms are not promised to stay fixed.
func fillUniform(x []float32, seed uint64, name string, chunk uint64) {
	h := fnv.New64a()
	h.Write([]byte(name))
	h.Write(binary.LittleEndian.AppendUint64(nil, chunk))
	src := rand.NewPCG(seed, h.Sum64())
	// Uniform on [-a, a) has standard deviation a/√3. Each 32-bit half of
	// an output gives a 24-bit signed integer, exactly representable, which
	// a single multiplication scales; no rounding differs by platform.
	step := float32(weightStd * math.Sqrt(3) / (1 << 23))
	for i := 0; i < len(x); i += 2 {
		u := src.Uint64()
		x[i] = float32(int32(uint32(u)>>8)-1<<23) * step
		if i+1 < len(x) {
			x[i+1] = float32(int32(uint32(u>>32)>>8)-1<<23) * step
		}
	}
}
