package main

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/warden-llm/warden/models/lockfile"
	"github.com/warden-llm/warden/store/docbase"
)

// lockWithDemo64 writes a lockfile pinning the demo model and "demo-64",
// a demo-shaped model whose embeddings have 64 dimensions, not 128.
func lockWithDemo64(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "demo-64.gguf")
	if out, err := runWarden(t, "testmodel", "--embd", "64", path); err != nil {
		t.Fatalf("warden testmodel: %v\n%s", err, out)
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	d, err := lockfile.Hash(path)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := lockfile.Read(repoLock)
	if err != nil {
		t.Fatal(err)
	}
	lock.Models = append(lock.Models, lockfile.Entry{Name: "demo-64", File: "demo-64.gguf", Path: path,
		SHA256: d.SHA256, Size: d.Size, Source: "warden testmodel --embd 64"})
	lockPath := filepath.Join(dir, "models.lock")
	if err := lockfile.Write(lockPath, lock); err != nil {
		t.Fatal(err)
	}
	return lockPath
}

// TestDocumentBaseWiring: --embedding-model opens an owner-only
// docbase.db sized to the model's embeddings, reusing the chat model when
// it is the same one and loading another beside it otherwise; a restart
// with an embedding model of other dimensions is refused, saying what to
// do; without one the document base is off.
func TestDocumentBaseWiring(t *testing.T) {
	lock := lockWithDemo64(t)

	// The demo model both chats and embeds: loaded once.
	w := startWarden(t, "--lock", lock, "--embedding-model", demoName)
	logs := w.logs.String()
	if !strings.Contains(logs, `msg="document base"`) || !strings.Contains(logs, "embedding_model="+demoName+" dimensions=128") {
		t.Errorf("no document base line with the model and its dimensions:\n%s", logs)
	}
	if n := strings.Count(logs, `msg="model loaded"`); n != 1 {
		t.Errorf("the demo model was loaded %d times, want once", n)
	}
	db := filepath.Join(w.dataDir, docbase.FileName)
	info, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s has mode %v, want 0600", db, perm)
	}
	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	// The audit log's start record names the model that reads documents.
	starts := 0
	for _, r := range exportRecords(t, w.dataDir) {
		if r["action"] == "start" {
			starts++
			if d, _ := r["detail"].(string); !strings.Contains(d, "embedding_model="+demoName+" embedding_sha256=") {
				t.Errorf("start record without the embedding model: %q", d)
			}
		}
	}
	if starts != 1 {
		t.Errorf("%d start records, want 1", starts)
	}

	// Another embedding model cannot use the vectors the first one made.
	out, err := runWarden(t, "serve", "--port", "0", "--data-dir", w.dataDir, "--lock", lock, "--embedding-model", "demo-64")
	if err == nil {
		t.Fatalf("serve with an embedding model of other dimensions started:\n%s", out)
	}
	for _, want := range []string{"demo-64 embeds in 64 dimensions", "128-dimension", "serve with the embedding model that built", "move " + db, "--data-dir"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}

	// A separate embedding model loads beside the chat model and is served.
	w = startWarden(t, "--lock", lock, "--embedding-model", "demo-64")
	if !strings.Contains(w.logs.String(), "embedding_model=demo-64 dimensions=64") {
		t.Errorf("no document base line for demo-64:\n%s", w.logs.String())
	}
	var names []string
	list, err := w.client.Models.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list.Data {
		names = append(names, m.ID)
	}
	if slices.Sort(names); !slices.Equal(names, []string{"demo-64", demoName}) {
		t.Errorf("models served: %v", names)
	}
	admin := issueToken(t, w.dataDir, "--sub", "ops", "--role", "admin")
	if out, err := runPsCommand(t, w, admin); err != nil || !strings.Contains(out, "Document base embedding model: demo-64\n") {
		t.Errorf("warden ps does not name the embedding model: %v\n%s", err, out)
	}

	// Without an embedding model the document base is off, said once.
	w = startWarden(t, "--lock", repoLock)
	if n := strings.Count(w.logs.String(), "document base off"); n != 1 {
		t.Errorf("%d lines say the document base is off, want 1:\n%s", n, w.logs.String())
	}
	if _, err := os.Stat(filepath.Join(w.dataDir, docbase.FileName)); !os.IsNotExist(err) {
		t.Errorf("docbase.db made without an embedding model: %v", err)
	}
	// The endpoints answer 501 document_base_disabled.
	code, body := get(t, w.base+"/v1/vector_stores", w.token)
	if code != http.StatusNotImplemented || !strings.Contains(body, "document_base_disabled") {
		t.Errorf("GET /v1/vector_stores without a document base: %d %s", code, body)
	}
}
