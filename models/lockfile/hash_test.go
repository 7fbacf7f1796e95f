package lockfile

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// randomFile writes n random bytes and returns the path and their SHA-256.
func randomFile(tb testing.TB, n int) (string, string) {
	tb.Helper()
	data := make([]byte, n)
	rand.Read(data)
	path := filepath.Join(tb.TempDir(), "m.gguf")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return path, hex.EncodeToString(sum[:])
}

func TestHashFileSpansBuffers(t *testing.T) {
	// Two and a half buffers, so the last read is short.
	path, want := randomFile(t, 2*hashBuffer+hashBuffer/2)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(1000, 0); err != nil { // the file offset must not matter
		t.Fatal(err)
	}
	var calls []int64
	d, err := HashFile(context.Background(), f, func(done int64) { calls = append(calls, done) })
	if err != nil {
		t.Fatal(err)
	}
	if d.SHA256 != want || d.Size != 2*hashBuffer+hashBuffer/2 {
		t.Errorf("HashFile = %+v, want sha256 %s", d, want)
	}
	if len(calls) != 3 || calls[0] != hashBuffer || calls[2] != d.Size {
		t.Errorf("progress calls %v", calls)
	}
}

func TestHashFileStopsWhenCancelled(t *testing.T) {
	path, _ := randomFile(t, 3*hashBuffer)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	reads := 0
	_, err = HashFile(ctx, f, func(int64) {
		reads++
		cancel()
	})
	if !errors.Is(err, context.Canceled) || reads != 1 {
		t.Errorf("after cancel: %d reads, err %v", reads, err)
	}
}

// BenchmarkHashFile measures hashing throughput on a page-cached file; compare
// its MB/s with `sha256sum` on a file of the same size (make bench-hash does).
func BenchmarkHashFile(b *testing.B) {
	path, _ := randomFile(b, 256<<20)
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.SetBytes(256 << 20)
	for b.Loop() {
		if _, err := HashFile(context.Background(), f, nil); err != nil {
			b.Fatal(err)
		}
	}
}
