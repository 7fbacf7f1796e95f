package trust_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/warden-llm/warden/models/lockfile"
	"github.com/warden-llm/warden/models/testmodel"
	"github.com/warden-llm/warden/models/trust"
	"github.com/warden-llm/warden/models/volume"
	"github.com/warden-llm/warden/store"
)

// writeTestModel writes a one-layer demo-shaped model with the given seed
// into dir, mode 0440, and returns its path.
func writeTestModel(t *testing.T, dir, file string, seed uint64) string {
	t.Helper()
	spec := testmodel.Demo()
	spec.Layers, spec.Seed = 1, seed
	path := filepath.Join(dir, file)
	if _, _, err := testmodel.WriteFile(path, spec); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o440); err != nil {
		t.Fatal(err)
	}
	return path
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// pinned writes a lockfile pinning the file at path with e's extra fields.
func pinned(t *testing.T, path string, edit func(*lockfile.Entry)) string {
	t.Helper()
	d, err := lockfile.Hash(path)
	if err != nil {
		t.Fatal(err)
	}
	e := lockfile.Entry{Name: "m", File: filepath.Base(path), SHA256: d.SHA256, Size: d.Size}
	if edit != nil {
		edit(&e)
	}
	lock := filepath.Join(t.TempDir(), "models.lock")
	if err := lockfile.Write(lock, &lockfile.File{Models: []lockfile.Entry{e}}); err != nil {
		t.Fatal(err)
	}
	return lock
}

func choose(t *testing.T, req trust.Request) (*trust.Choice, string, error) {
	t.Helper()
	dir, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	c, err := trust.Choose(context.Background(), req, dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if c != nil {
		t.Cleanup(c.Release)
	}
	return c, logs.String(), err
}

func TestChooseModelChecks(t *testing.T) {
	dir := t.TempDir()
	path := writeTestModel(t, dir, "m.gguf", 1)
	c, _, err := choose(t, trust.Request{Model: path, LockPath: pinned(t, path, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "m" || c.Unpinned || c.SHA256 != fileSHA(t, path) {
		t.Errorf("choice %+v", c)
	}

	_, _, err = choose(t, trust.Request{Model: path, LockPath: pinned(t, path, func(e *lockfile.Entry) { e.Architecture = "qwen2" })})
	if err == nil || !strings.Contains(err.Error(), "architecture is llama in the file, qwen2 in the lockfile") ||
		!strings.Contains(err.Error(), "warden models add") {
		t.Errorf("contradicting metadata: %v", err)
	}

	other := pinned(t, writeTestModel(t, t.TempDir(), "other.gguf", 2), nil)
	_, _, err = choose(t, trust.Request{Model: path, LockPath: other})
	if !errors.Is(err, lockfile.ErrNotPinned) || !strings.Contains(err.Error(), "warden models add --lock") {
		t.Errorf("unpinned: %v", err)
	}
	c, logs, err := choose(t, trust.Request{Model: path, LockPath: other, AllowUnpinned: true})
	if err != nil || !c.Unpinned || !strings.Contains(logs, "LOADING AN UNPINNED MODEL") {
		t.Errorf("--allow-unpinned: %+v, %v\n%s", c, err, logs)
	}

	if err := os.Chmod(path, 0o460); err != nil {
		t.Fatal(err)
	}
	_, _, err = choose(t, trust.Request{Model: path, LockPath: pinned(t, path, nil)})
	if err == nil || !strings.Contains(err.Error(), "run: chmod 0440") {
		t.Errorf("group-writable model: %v", err)
	}
}

// The choice holds the hashed file open: the loader is given that file
// even if another is renamed into its place, and a write to the file
// itself shows in CheckUnchanged.
func TestChoiceClosesTOCTOU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/self/fd is Linux's")
	}
	dir := t.TempDir()
	path := writeTestModel(t, dir, "m.gguf", 1)
	hourAgo := time.Now().Add(-time.Hour) // so that a write moves the mtime whatever the clock's tick
	if err := os.Chtimes(path, hourAgo, hourAgo); err != nil {
		t.Fatal(err)
	}
	want := fileSHA(t, path)
	c, _, err := choose(t, trust.Request{Model: path, LockPath: pinned(t, path, nil)})
	if err != nil {
		t.Fatal(err)
	}
	swap := writeTestModel(t, t.TempDir(), "m.gguf", 2)
	if err := os.Rename(swap, path); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.LoadPath(), "/proc/self/fd/") {
		t.Fatalf("load path %s", c.LoadPath())
	}
	if got := fileSHA(t, c.LoadPath()); got != want {
		t.Errorf("load path reads the swapped-in file: sha256 %s, hashed %s", got, want)
	}
	if err := c.CheckUnchanged(); err != nil {
		t.Errorf("a rename over the path changed the open file? %v", err)
	}

	// Write through the open file's own inode, as an in-place edit would.
	if err := os.Chmod(c.LoadPath(), 0o640); err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(c.LoadPath(), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.WriteAt([]byte("x"), 100)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckUnchanged(); err == nil || !strings.Contains(err.Error(), "changed while it was loading") {
		t.Errorf("in-place write not detected: %v", err)
	}
}

func TestStillPinned(t *testing.T) {
	path := writeTestModel(t, t.TempDir(), "m.gguf", 1)
	lock := pinned(t, path, nil)
	sum := fileSHA(t, path)
	if err := trust.StillPinned(lock, "m", sum, false); err != nil {
		t.Errorf("pinned model: %v", err)
	}
	if err := trust.StillPinned(lock, "m", strings.Repeat("0", 64), false); err == nil || !strings.Contains(err.Error(), "now pins sha256 "+sum) {
		t.Errorf("repinned model: %v", err)
	}
	if err := trust.StillPinned(lock, "gone", sum, false); err == nil || !strings.Contains(err.Error(), `no longer pins "gone"`) {
		t.Errorf("unpinned model: %v", err)
	}
	if err := trust.StillPinned(lock, "gone", sum, true); err != nil {
		t.Errorf("unpinned model under --allow-unpinned: %v", err)
	}
	if err := trust.StillPinned(filepath.Join(t.TempDir(), "none.lock"), "m", sum, true); err == nil {
		t.Error("a missing lockfile pins nothing")
	}
}

// TestChooseRequire: models.require is applied by Choose, which serve and
// the admin load endpoint share, before the file is hashed. A temporary
// folder is writable, so read_only_mount fails there.
func TestChooseRequire(t *testing.T) {
	path := writeTestModel(t, t.TempDir(), "m.gguf", 1)
	lock := pinned(t, path, nil)
	c, logs, err := choose(t, trust.Request{Model: path, LockPath: lock})
	if err != nil || !strings.Contains(logs, "read_only_mount=false") || !strings.Contains(logs, "encrypted_volume=") {
		t.Fatalf("without requirements: %+v, %v\n%s", c, err, logs)
	}
	_, logs, err = choose(t, trust.Request{Model: path, LockPath: lock, Require: []volume.Requirement{volume.ReadOnlyMount}})
	if err == nil || !strings.Contains(err.Error(), "read_only_mount: its filesystem is mounted read-write") ||
		!strings.Contains(err.Error(), volume.DocLink) {
		t.Errorf("read_only_mount required: %v", err)
	}
	if strings.Contains(logs, "hashed model") {
		t.Errorf("hashed a file it refuses for its placement:\n%s", logs)
	}
}

// --model NAME serves the entry's path when it records one, and the
// models folder's file of that name otherwise.
func TestChooseByNameUsesThePath(t *testing.T) {
	path := writeTestModel(t, t.TempDir(), "m.gguf", 1)
	c, logs, err := choose(t, trust.Request{Model: "m", LockPath: pinned(t, path, func(e *lockfile.Entry) { e.Path = path })})
	if err != nil || c.Path != path {
		t.Fatalf("choice %+v, %v\n%s", c, err, logs)
	}
	_, _, err = choose(t, trust.Request{Model: "m", LockPath: pinned(t, path, nil)})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), filepath.Join("models", "m.gguf")) {
		t.Errorf("without a path, the empty models folder: %v", err)
	}
}
