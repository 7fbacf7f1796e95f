package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPullThenServeEndToEnd: the real binary pulls the demo model from a
// fake Hub (redirecting to a fake CDN), pins it, and serves it by the
// pinned name; with the default configuration it refuses to pull at all.
func TestPullThenServeEndToEnd(t *testing.T) {
	hub, _, _ := pullHub(t)
	dataDir := t.TempDir()
	lock := filepath.Join(t.TempDir(), "models.lock")
	src := "hf:acme/demo-GGUF/demo.gguf"

	out, err := runWarden(t, "models", "pull", src, "--data-dir", dataDir, "--lock", lock, "--hub", hub.API.URL)
	if err == nil || !strings.Contains(out, "not an approved model source") {
		t.Fatalf("default config pulled (err %v):\n%s", err, out)
	}
	if len(hub.Ranges) != 0 {
		t.Fatal("the refused pull downloaded")
	}

	out, err = runWarden(t, "models", "pull", src, "--name", "pulled", "--data-dir", dataDir, "--lock", lock,
		"--allow-source", "hf:acme/*", "--hub", hub.API.URL, "--hub-host", hub.CDN.Listener.Addr().String())
	if err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	if !strings.Contains(out, `added "pulled"`) || !strings.Contains(out, "source: "+src+"@") {
		t.Errorf("pull output lacks the new entry:\n%s", out)
	}
	path := filepath.Join(dataDir, "models", "demo.gguf")
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o440 {
		t.Fatalf("pulled file: %v, %v", info, err)
	}

	out, err = runWarden(t, "models", "verify", "--data-dir", dataDir, "--lock", lock, "pulled")
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}

	w := startWarden(t, "--lock", lock, "--model", path)
	chat, err := w.client.Chat.Completions.New(context.Background(), chatParams("pulled", "Once upon a time"))
	if err != nil {
		t.Fatal(err)
	}
	if chat.Model != "pulled" || chat.Usage.CompletionTokens == 0 {
		t.Errorf("chat from the pulled model: model %q, %d tokens", chat.Model, chat.Usage.CompletionTokens)
	}
}
