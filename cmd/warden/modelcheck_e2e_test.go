package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/warden-llm/warden/engine/gguf"
	"github.com/warden-llm/warden/models/lockfile"
	"github.com/warden-llm/warden/models/testmodel"
)

// unloadable is a demo-shaped model that the pinned llama.cpp aborts on or
// refuses, and the message Warden's check gives for it.
type unloadable struct {
	name string
	want string
	edit func(kvs []gguf.KV) []gguf.KV
	raw  func(file []byte) []byte // applied to the encoded file
}

func unloadableModels() []unloadable {
	set := func(key string, v gguf.Value) func([]gguf.KV) []gguf.KV {
		return func(kvs []gguf.KV) []gguf.KV {
			for i := range kvs {
				if kvs[i].Key == key {
					kvs[i].Value = v
				}
			}
			return kvs
		}
	}
	return []unloadable{
		// ggml's GGML_ASSERT(!key.empty()): SIGABRT for the whole server.
		{name: "empty-key", want: "empty metadata key", raw: withEmptyKey},
		{name: "no-arch", want: "no general.architecture", edit: func(kvs []gguf.KV) []gguf.KV {
			return slices.DeleteFunc(kvs, func(kv gguf.KV) bool { return kv.Key == gguf.KeyArchitecture })
		}},
		// Served with a 4096-token context before.
		{name: "ctx-zero", want: "llama.context_length is 0", edit: set("llama.context_length", gguf.Scalar(uint32(0)))},
		{name: "blocks-absurd", want: "llama.block_count is 1000, want 1 to 512", edit: set("llama.block_count", gguf.Scalar(uint32(1000)))},
	}
}

// write writes the model to path, readable by its owner and group only.
func (u unloadable) write(t *testing.T, path string) {
	t.Helper()
	kvs, tensors, err := testmodel.Header(testmodel.Demo())
	if err != nil {
		t.Fatal(err)
	}
	if u.edit != nil {
		kvs = u.edit(kvs)
	}
	enc, err := gguf.NewEncoder(kvs, tensors)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zeros := func(i int, w io.Writer) error {
		_, err := w.Write(make([]byte, enc.Tensors()[i].Size))
		return err
	}
	if err := enc.Encode(&b, zeros); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	if u.raw != nil {
		data = u.raw(data)
	}
	if err := os.WriteFile(path, data, 0o440); err != nil {
		t.Fatal(err)
	}
}

// withEmptyKey inserts a 32-byte pair with an empty key before the first
// pair. 32 bytes keep the data section aligned, and tensor offsets are
// relative to it, so the file is otherwise a valid model: the encoder
// refuses to write an empty key.
func withEmptyKey(file []byte) []byte {
	le := binary.LittleEndian
	kv := le.AppendUint64(nil, 0)
	kv = le.AppendUint32(kv, uint32(gguf.ValueString))
	kv = le.AppendUint64(kv, 12)
	kv = append(kv, "empty-key!!!"...)
	out := slices.Concat(file[:24], kv, file[24:])
	le.PutUint64(out[16:24], le.Uint64(out[16:24])+1)
	return out
}

// TestAddAndFitRefuseUnloadableModels: models add pins, and fit plans for,
// only what serve loads. Each of these files was pinned and planned
// before, and then aborted or was refused only when served (or, with
// context_length 0, served with 4096 tokens).
func TestAddAndFitRefuseUnloadableModels(t *testing.T) {
	dir := t.TempDir()
	lock := filepath.Join(dir, "models.lock")
	for _, u := range unloadableModels() {
		t.Run(u.name, func(t *testing.T) {
			path := filepath.Join(dir, u.name+".gguf")
			u.write(t, path)
			out, err := runWarden(t, "models", "add", "--lock", lock, path)
			if err == nil {
				t.Fatalf("models add pinned it:\n%s", out)
			}
			if !strings.Contains(out, u.want) {
				t.Errorf("output does not say %q:\n%s", u.want, out)
			}
			if strings.Contains(out, "SIGABRT") || strings.Contains(out, "GGML_ASSERT") {
				t.Errorf("llama.cpp saw the file:\n%s", out)
			}
			out, err = runWarden(t, "fit", path, "--device", "cpu=64GiB")
			if err == nil || !strings.Contains(out, u.want) {
				t.Errorf("fit: %v, want a refusal saying %q:\n%s", err, u.want, out)
			}
		})
	}
	if data, err := os.ReadFile(lock); err == nil && strings.Contains(string(data), "name:") {
		t.Errorf("the lockfile pins something:\n%s", data)
	}
}

// TestAdminLoadOfUnloadableModel: a model pinned before this check existed
// (the entry is written directly, as an older Warden wrote it) is refused
// by POST /admin/models/load with the check's message, and the server
// serves on. An empty key used to abort the server; context_length 0 used
// to load.
func TestAdminLoadOfUnloadableModel(t *testing.T) {
	lock := copyRepoLock(t)
	w := startWarden(t, "--lock", lock)
	admin := issueToken(t, w.dataDir, "--sub", "ops", "--role", "admin")
	models := unloadableModels()
	pinDirectly(t, lock, filepath.Join(w.dataDir, "models"), models)

	for _, u := range models {
		code, body := post(t, w.base+"/admin/models/load", admin, `{"model":"`+u.name+`"}`)
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, u.want) {
			t.Errorf("load %s: %d %s, want 422 saying %q", u.name, code, body, u.want)
		}
		code, _ = post(t, w.base+"/v1/chat/completions", w.token,
			`{"model":"`+demoName+`","messages":[{"role":"user","content":"hi"}],"max_tokens":2}`)
		if code != http.StatusOK {
			t.Fatalf("after loading %s the server no longer serves the demo model: %d", u.name, code)
		}
	}
	if strings.Contains(w.logs.String(), "GGML_ASSERT") {
		t.Errorf("llama.cpp saw a file:\n%s", w.logs.String())
	}
}

// pinDirectly writes the models into dir and pins them in lock without
// warden models add, which would refuse them.
func pinDirectly(t *testing.T, lock, dir string, models []unloadable) {
	t.Helper()
	lf, err := lockfile.Read(lock)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range models {
		path := filepath.Join(dir, u.name+".gguf")
		u.write(t, path)
		d, err := lockfile.Hash(path)
		if err != nil {
			t.Fatal(err)
		}
		lf.Put(lockfile.Entry{Name: u.name, File: u.name + ".gguf", SHA256: d.SHA256, Size: d.Size})
	}
	if err := lockfile.Write(lock, lf); err != nil {
		t.Fatal(err)
	}
}
