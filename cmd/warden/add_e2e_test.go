package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-llm/warden/models/lockfile"
)

// The reported trap (issue 19): `models add` from any folder, then
// `models verify` and `serve --model NAME` with no other step. Before add
// copied the file into the models folder, verify and serve failed with
// "lstat <data-dir>/models/m.gguf: no such file or directory".
func TestAddFromAnyFolderThenVerifyAndServe(t *testing.T) {
	src := writeTestModel(t, t.TempDir(), "m.gguf", 1)
	work := t.TempDir()
	lock, data := filepath.Join(work, "my.lock"), filepath.Join(work, "data")

	out, err := runWarden(t, "models", "add", src, "--name", "m", "--lock", lock, "--data-dir", data)
	if err != nil {
		t.Fatalf("models add: %v\n%s", err, out)
	}
	if out, err := runWarden(t, "models", "verify", "--lock", lock, "--data-dir", data); err != nil || !strings.Contains(out, "ok    m") {
		t.Fatalf("models verify right after add: %v\n%s", err, out)
	}
	if !strings.Contains(out, "copied to "+filepath.Join(data, "models", "m.gguf")) {
		t.Errorf("add does not say where the file went:\n%s", out)
	}
	info, err := os.Stat(filepath.Join(data, "models", "m.gguf"))
	if err != nil || info.Mode().Perm() != lockfile.ModelMode {
		t.Fatalf("copy: %v, %v", info, err)
	}
	// The source may go: the copy is what is served.
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	w := startWarden(t, "--lock", lock, "--model", "m", "--data-dir", data)
	token := issueToken(t, data, "--sub", "me", "--role", "user")
	code, body := post(t, w.base+"/v1/chat/completions", token,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":4}`)
	if code != http.StatusOK || !strings.Contains(body, `"choices"`) {
		t.Fatalf("chat: %d %s", code, body)
	}

	// Adding the same file again is harmless; a different file under the
	// name is refused and the approved copy stays.
	again := writeTestModel(t, t.TempDir(), "m.gguf", 1)
	if out, err := runWarden(t, "models", "add", again, "--name", "m", "--lock", lock, "--data-dir", data); err != nil ||
		!strings.Contains(out, "already holds this file") {
		t.Errorf("re-adding the same file: %v\n%s", err, out)
	}
	before := fileSHA(t, filepath.Join(data, "models", "m.gguf"))
	other := writeTestModel(t, t.TempDir(), "m.gguf", 2)
	out, err = runWarden(t, "models", "add", other, "--name", "m2", "--lock", lock, "--data-dir", data)
	if err == nil || !strings.Contains(out, "a different file already has this name in the models folder") {
		t.Errorf("adding a different m.gguf: %v\n%s", err, out)
	}
	if fileSHA(t, filepath.Join(data, "models", "m.gguf")) != before {
		t.Error("the approved copy was replaced")
	}
	if f, err := lockfile.Read(lock); err != nil || len(f.Models) != 1 {
		t.Errorf("a refused add changed the lockfile: %+v, %v", f, err)
	}
}

// --in-place pins the file where it lies; serve and verify read it there,
// with serve's protection checks, and nothing is copied.
func TestAddInPlace(t *testing.T) {
	src := writeTestModel(t, t.TempDir(), "m.gguf", 1)
	work := t.TempDir()
	lock, data := filepath.Join(work, "my.lock"), filepath.Join(work, "data")
	if out, err := runWarden(t, "models", "add", src, "--in-place", "--name", "m", "--lock", lock, "--data-dir", data); err != nil {
		t.Fatalf("models add --in-place: %v\n%s", err, out)
	}
	f, err := lockfile.Read(lock)
	if err != nil || f.Version != 3 || f.Models[0].Path != src {
		t.Fatalf("lockfile %+v, %v", f, err)
	}
	if _, err := os.Stat(filepath.Join(data, "models", "m.gguf")); !os.IsNotExist(err) {
		t.Errorf("--in-place copied the file: %v", err)
	}
	if out, err := runWarden(t, "models", "verify", "--lock", lock, "--data-dir", data); err != nil || !strings.Contains(out, "ok    m") {
		t.Fatalf("models verify: %v\n%s", err, out)
	}
	if log, err := serveUntilReady(t, "--data-dir", data, "--lock", lock, "--model", "m"); err != nil || !strings.Contains(log, "path="+src) {
		t.Fatalf("serve --model m: %v\n%s", err, log)
	}
	// Where it lies, it must pass serve's checks: a group-writable file is
	// refused at add, and at serve if it becomes so later.
	if err := os.Chmod(src, 0o660); err != nil {
		t.Fatal(err)
	}
	if log, err := serveUntilReady(t, "--data-dir", data, "--lock", lock, "--model", "m"); err == nil || !strings.Contains(log, "writable by group or others") {
		t.Errorf("serve of a group-writable in-place file: %v\n%s", err, log)
	}
	out, err := runWarden(t, "models", "add", src, "--in-place", "--name", "m", "--lock", lock, "--data-dir", data)
	if err == nil || !strings.Contains(out, "refusing to pin") || !strings.Contains(out, "writable by group or others") {
		t.Errorf("add --in-place of a group-writable file: %v\n%s", err, out)
	}
}
