package hashcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// counter is a HashFunc that counts its calls.
type counter struct{ calls int }

func (c *counter) hash(_ context.Context, f *os.File) (string, error) {
	c.calls++
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<40)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// openCache opens a cache in dir whose clock runs an hour ahead, so that
// files the test has just written are not too recent to cache.
func openCache(t *testing.T, dir string) *Cache {
	t.Helper()
	c, err := Open(context.Background(), filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return time.Now().Add(time.Hour) }
	t.Cleanup(func() { c.Close() })
	return c
}

// writeModel writes a file whose mtime is an hour old, so that a later
// write gives it a different mtime whatever the clock's resolution.
func writeModel(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

// sum opens path afresh, as a restarted Warden would, and asks the cache.
func sum(t *testing.T, c *Cache, path string, h *counter, reverify bool) Result {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := c.Sum(context.Background(), f, h.hash, reverify)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sha(s string) string {
	b := sha256.Sum256([]byte(s))
	return hex.EncodeToString(b[:])
}

func TestCacheHitSkipsHashing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	writeModel(t, path, "weights")
	c := openCache(t, dir)
	h := &counter{}

	first := sum(t, c, path, h, false)
	if first.Cached || h.calls != 1 || first.SHA256 != sha("weights") || first.Identity.Size != 7 {
		t.Fatalf("first sum %+v after %d hashes", first, h.calls)
	}
	second := sum(t, c, path, h, false)
	if !second.Cached || h.calls != 1 || second.SHA256 != first.SHA256 || second.Identity != first.Identity {
		t.Fatalf("second sum %+v after %d hashes, want a cache hit", second, h.calls)
	}
	if again := sum(t, c, path, h, true); again.Cached || h.calls != 2 {
		t.Errorf("reverify: %+v after %d hashes, want a full hash", again, h.calls)
	}

	// A restart: the cache is a file, not process memory.
	c.Close()
	reopened := openCache(t, dir)
	if r := sum(t, reopened, path, h, false); !r.Cached || h.calls != 2 {
		t.Errorf("after reopening: %+v after %d hashes, want a cache hit", r, h.calls)
	}
	info, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v, %v; want 0600", info.Mode(), err)
	}
}

func TestChangedFileIsRehashed(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, path string)
		want   string // content after the change
	}{
		{"touched", func(t *testing.T, path string) {
			later := time.Now().Add(time.Minute)
			if err := os.Chtimes(path, later, later); err != nil {
				t.Fatal(err)
			}
		}, "weights"},
		{"rewritten in place, same size", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte("W"), 0); err != nil {
				t.Fatal(err)
			}
		}, "Weights"},
		{"replaced by rename", func(t *testing.T, path string) {
			other := path + ".new"
			writeModel(t, other, "poisons")
			if err := os.Rename(other, path); err != nil {
				t.Fatal(err)
			}
		}, "poisons"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "m.gguf")
			writeModel(t, path, "weights")
			c := openCache(t, dir)
			h := &counter{}
			before := sum(t, c, path, h, false)
			if sum(t, c, path, h, false); h.calls != 1 {
				t.Fatalf("unchanged file hashed %d times", h.calls)
			}
			tt.change(t, path)
			after := sum(t, c, path, h, false)
			if after.Cached || h.calls != 2 || after.SHA256 != sha(tt.want) {
				t.Errorf("after the change: %+v after %d hashes, want a fresh hash of %q", after, h.calls, tt.want)
			}
			if after.Identity == before.Identity {
				t.Errorf("identity unchanged: %+v", after.Identity)
			}
		})
	}
}

// A file modified just before it was hashed is not cached: a second write
// within the same timestamp tick would go unnoticed.
func TestRecentFileIsNotCached(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	writeModel(t, path, "weights")
	c := openCache(t, dir)
	c.now = time.Now
	h := &counter{}
	sum(t, c, path, h, false)
	if r := sum(t, c, path, h, false); r.Cached || h.calls != 2 {
		t.Errorf("just-written file: %+v after %d hashes, want it hashed every time", r, h.calls)
	}
}

func TestChangeDuringHashIsAnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	writeModel(t, path, "weights")
	c := openCache(t, dir)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	grow := func(ctx context.Context, f *os.File) (string, error) {
		w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return "", err
		}
		defer w.Close()
		_, err = w.WriteString(" and more")
		return sha("weights"), err
	}
	_, err = c.Sum(context.Background(), f, grow, false)
	if err == nil || !strings.Contains(err.Error(), "changed while it was being hashed (size 7 → 16") {
		t.Fatalf("Sum = %v", err)
	}
	h := &counter{}
	if r := sum(t, c, path, h, false); r.Cached {
		t.Errorf("the hash of a file that changed under it was cached: %+v", r)
	}
}
