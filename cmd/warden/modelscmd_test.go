package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-llm/warden/engine/gguf"
	"github.com/warden-llm/warden/models/lockfile"
	"github.com/warden-llm/warden/models/testmodel"
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

// flipByte changes one byte of a 0440 file in place, as tampering would.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chmod(path, 0o440); err != nil {
		t.Fatal(err)
	}
}

// cli runs a warden command in-process.
func cli(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCommand()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256Hex(data)
}

func TestModelsAddListVerifyRemove(t *testing.T) {
	dir := t.TempDir()
	lock := filepath.Join(dir, "models.lock")
	a := writeTestModel(t, dir, "a.gguf", 1)
	b := writeTestModel(t, dir, "b.gguf", 2)
	commit := "0123456789abcdef0123456789abcdef01234567"

	if _, stderr, err := cli(t, "models", "add", "--data-dir", filepath.Join(dir, "data"), "--lock", lock, b); err != nil {
		t.Fatalf("add b: %v\n%s", err, stderr)
	}
	out, _, err := cli(t, "models", "add", "--data-dir", filepath.Join(dir, "data"), "--lock", lock, a, "--name", "alpha", "--license", "MIT", "--publisher", "Example",
		"--approved-by", "alice", "--source", "https://huggingface.co/ex/a/resolve/"+commit+"/a.gguf")
	if err != nil || !strings.Contains(out, `added "alpha"`) {
		t.Fatalf("add a: %v\n%s", err, out)
	}
	f, err := lockfile.Read(lock)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Models) != 2 || f.Models[0].Name != "alpha" || f.Models[1].Name != "b" {
		t.Fatalf("lockfile not sorted by name: %+v", f.Models)
	}
	e := f.Models[0]
	approved, err := time.Parse(time.RFC3339, e.ApprovedAt)
	if err != nil || time.Since(approved) > time.Hour || e.ApprovedBy != "alice" || e.License != "MIT" {
		t.Errorf("approval record %+v", e)
	}
	if e.File != "a.gguf" || e.SHA256 != fileSHA(t, a) || e.Architecture != "llama" || e.FileType != "Q8_0" ||
		e.ContextLength != 2048 || e.Parameters == 0 || e.ChatTemplateSHA256 != sha256Hex([]byte(testmodel.ChatMLTemplate)) {
		t.Errorf("entry does not describe the file: %+v", e)
	}

	out, _, err = cli(t, "models", "list", "--lock", lock)
	if err != nil || !strings.Contains(out, "alpha") || !strings.Contains(out, "MIT") || !strings.Contains(out, e.SHA256[:12]) {
		t.Errorf("list: %v\n%s", err, out)
	}
	if out, _, err = cli(t, "models", "verify", "--lock", lock, "--dir", dir); err != nil || strings.Count(out, "ok ") != 2 {
		t.Errorf("verify of untouched files: %v\n%s", err, out)
	}

	expected := fileSHA(t, b)
	flipByte(t, b, 4096)
	out, _, err = cli(t, "models", "verify", "--lock", lock, "--dir", dir)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 models failed") {
		t.Errorf("verify of a tampered file: err %v", err)
	}
	if want := "FAIL  b: model \"b\" does not match its lockfile entry: sha256 " + fileSHA(t, b) + ", lockfile says " + expected; !strings.Contains(out, want) {
		t.Errorf("verify output does not name expected vs actual:\n%s\nwant %s", out, want)
	}
	if _, _, err := cli(t, "models", "verify", "--lock", lock, "--dir", dir, "alpha"); err != nil {
		t.Errorf("verify alpha alone: %v", err)
	}

	if _, _, err := cli(t, "models", "remove", "--lock", lock, "b"); err != nil {
		t.Fatal(err)
	}
	if f, err := lockfile.Read(lock); err != nil || len(f.Models) != 1 || f.Models[0].Name != "alpha" {
		t.Errorf("after remove: %+v, %v", f, err)
	}
	if _, _, err := cli(t, "models", "remove", "--lock", lock, "b"); !errors.Is(err, lockfile.ErrNotPinned) {
		t.Errorf("removing a missing entry: %v", err)
	}
}

func TestModelsAddRefuses(t *testing.T) {
	dir := t.TempDir()
	lock := filepath.Join(dir, "models.lock")
	m := writeTestModel(t, dir, "m.gguf", 1)
	_, _, err := cli(t, "models", "add", "--data-dir", filepath.Join(dir, "data"), "--lock", lock, m, "--source", "https://huggingface.co/ex/m/resolve/main/m.gguf")
	if err == nil || !strings.Contains(err.Error(), `moving reference "/resolve/main"`) {
		t.Errorf("branch source: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "models", "m.gguf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused flag still copied the file: %v", err)
	}
	bad := filepath.Join(dir, "bad.gguf")
	if err := os.WriteFile(bad, []byte("GGUF\x03\x00\x00\x00 not really"), 0o440); err != nil {
		t.Fatal(err)
	}
	_, _, err = cli(t, "models", "add", "--data-dir", filepath.Join(dir, "data"), "--lock", lock, bad)
	if err == nil || !strings.Contains(err.Error(), "not a valid GGUF file") {
		t.Errorf("malformed file: %v", err)
	}
	if _, err := os.Stat(lock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused add wrote the lockfile: %v", err)
	}
}

// A file that already lies in the models folder is pinned where it is:
// nothing is copied and the entry records no path.
func TestModelsAddAlreadyInModelsFolder(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(filepath.Join(data, "models"), 0o700); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(dir, "models.lock")
	m := writeTestModel(t, filepath.Join(data, "models"), "m.gguf", 1)
	out, _, err := cli(t, "models", "add", "--data-dir", data, "--lock", lock, m)
	if err != nil || !strings.Contains(out, "already in the models folder") {
		t.Fatalf("add: %v\n%s", err, out)
	}
	f, err := lockfile.Read(lock)
	if err != nil || f.Models[0].Path != "" || f.Version != 2 {
		t.Errorf("lockfile %+v, %v", f, err)
	}
	if left, _ := filepath.Glob(filepath.Join(data, "models", "*")); len(left) != 1 {
		t.Errorf("models folder holds %v", left)
	}
}

// The committed lockfile's demo entry must describe what this build writes.
func TestCommittedDemoEntry(t *testing.T) {
	lock, err := lockfile.Read(repoLock)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := lock.Lookup(demoName)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := testmodel.Write(&buf, testmodel.Demo()); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if err := entry.Verify(lockfile.Digest{SHA256: sha256Hex(data), Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	header, err := gguf.Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := entry.CheckMetadata(lockfile.Describe(header)); err != nil {
		t.Fatal(err)
	}
	if entry.Parameters == 0 || entry.ChatTemplateSHA256 == "" || entry.ApprovedAt == "" {
		t.Errorf("demo entry lacks review fields: %+v", entry)
	}
}

func TestRenderBar(t *testing.T) {
	got := renderBar("hashing m", 50<<20, 100<<20, time.Second)
	want := "hashing m [###############...............]  50%  50.0 MiB/100.0 MiB  0.1 GB/s"
	if got != want {
		t.Errorf("renderBar =\n%q\nwant\n%q", got, want)
	}
	var out bytes.Buffer
	bar := newProgressBar(&out, "x", 10)
	bar.update(10)
	bar.finish()
	if out.Len() != 0 {
		t.Errorf("a quick hash to a non-terminal printed %q", out.String())
	}
}
