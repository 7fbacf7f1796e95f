package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-llm/warden/models/lockfile"
)

// These tests run the binary against models written by the test-model
// writer (real llama-architecture GGUF files that llama.cpp loads) and the
// shared test models, checking what Warden refuses before loading.

// serveUntilReady runs `warden serve` until it is ready, then stops it,
// and returns its log. An error means it exited before being ready.
func serveUntilReady(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, wardenBinary(t), append([]string{"serve", "--port", "0"}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	ready := false
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if readyLine.MatchString(sc.Text()) {
			ready = true
			cmd.Process.Signal(os.Interrupt)
		}
	}
	err = cmd.Wait()
	if ready {
		return log.String(), nil
	}
	return log.String(), err
}

// supplyFixture is a protected folder holding one pinned model.
type supplyFixture struct {
	dir, model, lock, data string
}

func newSupplyFixture(t *testing.T) supplyFixture {
	t.Helper()
	dir := t.TempDir()
	fx := supplyFixture{
		dir:   dir,
		model: writeTestModel(t, dir, "m.gguf", 1),
		lock:  filepath.Join(dir, "models.lock"),
		data:  filepath.Join(dir, "data"),
	}
	if out, err := runWarden(t, "models", "add", "--data-dir", fx.data, "--lock", fx.lock, fx.model); err != nil {
		t.Fatalf("models add: %v\n%s", err, out)
	}
	return fx
}

func (fx supplyFixture) serve(t *testing.T, model string, extra ...string) (string, error) {
	t.Helper()
	return serveUntilReady(t, append([]string{"--data-dir", fx.data, "--lock", fx.lock, "--model", model}, extra...)...)
}

func TestPinnedModelServes(t *testing.T) {
	fx := newSupplyFixture(t)
	log, err := fx.serve(t, fx.model)
	if err != nil || !strings.Contains(log, "msg=\"model verified\" model=m") || !strings.Contains(log, "path=/proc/self/fd/") {
		t.Fatalf("pinned model: %v\n%s", err, log)
	}
}

func TestSupplyChainRefusals(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, fx supplyFixture) (model string)
		want  []string
	}{
		{"tampered byte", func(t *testing.T, fx supplyFixture) string {
			flipByte(t, fx.model, 8192)
			return fx.model
		}, []string{`model "m" does not match its lockfile entry: sha256 `, ", lockfile says ", "warden models add --lock"}},
		{"truncated", func(t *testing.T, fx supplyFixture) string {
			if err := os.Truncate(fx.model, 4096); err != nil {
				t.Fatal(err)
			}
			return fx.model
		}, []string{"size 4096, lockfile says "}},
		{"renamed", func(t *testing.T, fx supplyFixture) string {
			renamed := filepath.Join(fx.dir, "n.gguf")
			if err := os.Rename(fx.model, renamed); err != nil {
				t.Fatal(err)
			}
			return renamed
		}, []string{"model is not pinned in the lockfile", "--allow-unpinned"}},
		{"unpinned", func(t *testing.T, fx supplyFixture) string {
			return writeTestModel(t, fx.dir, "other.gguf", 2)
		}, []string{"model is not pinned in the lockfile", "warden models add --lock"}},
		{"group-writable", func(t *testing.T, fx supplyFixture) string {
			if err := os.Chmod(fx.model, 0o660); err != nil {
				t.Fatal(err)
			}
			return fx.model
		}, []string{"writable by group or others (mode 0660)", "run: chmod 0440"}},
		{"entry contradicts header", func(t *testing.T, fx supplyFixture) string {
			f, err := lockfile.Read(fx.lock)
			if err != nil {
				t.Fatal(err)
			}
			f.Models[0].FileType = "Q4_K_M"
			if err := lockfile.Write(fx.lock, f); err != nil {
				t.Fatal(err)
			}
			return fx.model
		}, []string{"file_type is Q8_0 in the file, Q4_K_M in the lockfile"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newSupplyFixture(t)
			log, err := fx.serve(t, tt.setup(t, fx))
			if err == nil {
				t.Fatalf("served:\n%s", log)
			}
			for _, want := range tt.want {
				if !strings.Contains(log, want) {
					t.Errorf("output does not say %q:\n%s", want, log)
				}
			}
			if strings.Contains(log, "model loaded") {
				t.Errorf("the model reached llama.cpp:\n%s", log)
			}
		})
	}
}

func TestAllowUnpinnedLoadsLoudly(t *testing.T) {
	fx := newSupplyFixture(t)
	other := writeTestModel(t, fx.dir, "other.gguf", 2)
	log, err := fx.serve(t, other, "--allow-unpinned")
	if err != nil || !strings.Contains(log, "level=WARN msg=\"LOADING AN UNPINNED MODEL") || !strings.Contains(log, "pinned=false") {
		t.Fatalf("--allow-unpinned: %v\n%s", err, log)
	}
}

// A malformed file is stopped by the Go parser with its precise message,
// even under --allow-unpinned: llama.cpp never sees it.
func TestMalformedModelNeverReachesLlamaCpp(t *testing.T) {
	fx := newSupplyFixture(t)
	data, err := os.ReadFile(fx.model)
	if err != nil {
		t.Fatal(err)
	}
	// A tensor count of 2^63-1: the kind of count whose overflow in ggml's
	// size arithmetic the GGUF CVEs exploit.
	bad := filepath.Join(fx.dir, "bad.gguf")
	corrupt := append([]byte(nil), data...)
	copy(corrupt[8:16], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	if err := os.WriteFile(bad, corrupt, 0o440); err != nil {
		t.Fatal(err)
	}
	log, err := fx.serve(t, bad, "--allow-unpinned")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("want a clean exit 1, got %v\n%s", err, log)
	}
	if want := "not a valid GGUF file: gguf: at byte 24: tensor count 9223372036854775807 exceeds the limit of 65536"; !strings.Contains(log, want) {
		t.Errorf("output does not carry the parser's message %q:\n%s", want, log)
	}
	if strings.Contains(log, "llama_model_load") || strings.Contains(log, "model loaded") {
		t.Errorf("llama.cpp saw the file:\n%s", log)
	}
}

func TestModelsCommandsThroughBinary(t *testing.T) {
	fx := newSupplyFixture(t)
	second := writeTestModel(t, fx.dir, "second.gguf", 2)
	out, err := runWarden(t, "models", "add", "--data-dir", fx.data, "--lock", fx.lock, second, "--name", "b-model", "--license", "Apache-2.0")
	if err != nil || !strings.Contains(out, `added "b-model"`) || !strings.Contains(out, "license: Apache-2.0") {
		t.Fatalf("add: %v\n%s", err, out)
	}
	out, err = runWarden(t, "models", "list", "--lock", fx.lock)
	if err != nil || !strings.Contains(out, "b-model") || strings.Index(out, "b-model") > strings.Index(out, "\nm ") {
		t.Errorf("list (sorted by name): %v\n%s", err, out)
	}
	if out, err = runWarden(t, "models", "verify", "--lock", fx.lock, "--dir", fx.dir); err != nil {
		t.Errorf("verify: %v\n%s", err, out)
	}
	flipByte(t, second, 10000)
	out, err = runWarden(t, "models", "verify", "--lock", fx.lock, "--dir", fx.dir)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 || !strings.Contains(out, "FAIL  b-model") || !strings.Contains(out, "ok    m") {
		t.Errorf("verify after tampering: %v\n%s", err, out)
	}
	if out, err = runWarden(t, "models", "remove", "--lock", fx.lock, "b-model"); err != nil {
		t.Fatalf("remove: %v\n%s", err, out)
	}
	if out, err = runWarden(t, "models", "verify", "--lock", fx.lock, "--dir", fx.dir); err != nil {
		t.Errorf("verify after removing the tampered entry: %v\n%s", err, out)
	}
}

// A restart skips hashing when the file's identity is unchanged, and
// --reverify hashes anyway. The shared models are old files, so their
// timestamps are outside the window in which a hash is not cached.
func TestHashCacheAcrossRestarts(t *testing.T) {
	src := filepath.Join(sharedModels(t), "stories260K.gguf")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("%s missing", src)
	}
	d, err := lockfile.Hash(src)
	if err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(t.TempDir(), "models.lock")
	err = lockfile.Write(lock, &lockfile.File{Models: []lockfile.Entry{
		{Name: "stories260K", File: "stories260K.gguf", SHA256: d.SHA256, Size: d.Size},
	}})
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	for i, tt := range []struct {
		args   []string
		cached bool
	}{
		{nil, false},
		{nil, true},
		{[]string{"--reverify"}, false},
	} {
		log, err := serveUntilReady(t, append([]string{"--data-dir", data, "--lock", lock, "--model", src}, tt.args...)...)
		if err != nil {
			t.Fatalf("start %d: %v\n%s", i+1, err, log)
		}
		want := "hash_cached=false"
		if tt.cached {
			want = "hash_cached=true"
		}
		if !strings.Contains(log, want) || tt.cached == strings.Contains(log, "msg=\"hashed model\"") {
			t.Errorf("start %d %v: want %s\n%s", i+1, tt.args, want, log)
		}
	}
}
