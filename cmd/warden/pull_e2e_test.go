package main

import (
	"context"
	"fmt"
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

	empty := filepath.Join(t.TempDir(), "empty.yaml") // the defaults, whatever the host has in /etc
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runWarden(t, "models", "pull", src, "--config", empty, "--data-dir", dataDir, "--lock", lock, "--hub", hub.API.URL)
	if err == nil || !strings.Contains(out, "not an approved model source") {
		t.Fatalf("default config pulled (err %v):\n%s", err, out)
	}
	if len(hub.Ranges) != 0 {
		t.Fatal("the refused pull downloaded")
	}

	// The allow-list, Hub and CDN host come from the configuration file.
	config := filepath.Join(t.TempDir(), "warden.yaml")
	yaml := fmt.Sprintf("models:\n  sources: ['hf:acme/*']\n  hub: %s\n  hub_hosts: ['%s']\n", hub.API.URL, hub.CDN.Listener.Addr())
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runWarden(t, "models", "pull", src, "--name", "pulled", "--data-dir", dataDir, "--lock", lock, "--config", config)
	if err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	t.Logf("warden models pull:\n%s", out)
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
