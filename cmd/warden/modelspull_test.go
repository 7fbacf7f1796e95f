package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-llm/warden/models/lockfile"
	"github.com/warden-llm/warden/models/pull/pulltest"
	"github.com/warden-llm/warden/models/testmodel"
)

// pullHub serves two different deterministic models, the first on main.
func pullHub(t *testing.T) (hub *pulltest.Hub, first, second []byte) {
	t.Helper()
	write := func(s testmodel.Spec) []byte {
		var b bytes.Buffer
		if err := testmodel.Write(&b, s); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	first = write(testmodel.Demo())
	s := testmodel.Demo()
	s.Seed++
	second = write(s)
	hub = pulltest.New(t, "acme", "demo-GGUF")
	hub.Commit("main", "demo.gguf", first)
	return hub, first, second
}

func pullOpts(hub *pulltest.Hub, dir string) pullOptions {
	return pullOptions{sources: []string{"hf:acme/*"}, hub: hub.API.URL, hubHosts: []string{hub.CDN.Listener.Addr().String()}, modelsDir: dir, approvedBy: "tester"}
}

func pullCmd(t *testing.T, lock, arg string, o pullOptions) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := runModelsPull(context.Background(), lock, arg, o, slog.New(slog.DiscardHandler), &out, &out)
	return out.String(), err
}

// The lockfile records the commit main pointed to; after main moves,
// pulling the entry by name fetches the recorded commit, and pulling the
// branch again is refused rather than replacing the pin.
func TestPullBranchMovesBetweenPulls(t *testing.T) {
	hub, first, second := pullHub(t)
	dir, lock := t.TempDir(), filepath.Join(t.TempDir(), "models.lock")
	o := pullOpts(hub, dir)
	o.name = "demo"
	out, err := pullCmd(t, lock, "hf:acme/demo-GGUF/demo.gguf@main", o)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lf, err := lockfile.Read(lock)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := lf.Lookup("demo")
	commitA := strings.TrimPrefix(e.Source, "hf:acme/demo-GGUF/demo.gguf@")
	if len(commitA) != 40 || e.Publisher != "acme" || e.License != "Apache-2.0" || e.Architecture != "llama" {
		t.Fatalf("entry %+v, want source at a commit, publisher acme, license Apache-2.0, metadata", e)
	}
	if !strings.Contains(out, "resolved main to commit "+commitA) {
		t.Errorf("output does not show the resolved commit:\n%s", out)
	}

	hub.Commit("main", "demo.gguf", second) // main moves
	path := filepath.Join(dir, "demo.gguf")
	os.Remove(path)
	if out, err := pullCmd(t, lock, "demo", pullOpts(hub, dir)); err != nil {
		t.Fatalf("re-pull by name: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, first) {
		t.Error("re-pull by name did not fetch the recorded commit's file")
	}

	os.Remove(path)
	out, err = pullCmd(t, lock, "hf:acme/demo-GGUF/demo.gguf@main", o)
	if err == nil || !strings.Contains(err.Error(), `the lockfile pins "demo"`) {
		t.Fatalf("pulling the moved branch under the pinned name: err = %v\n%s", err, out)
	}
	if after, _ := lockfile.Read(lock); after.Models[0] != e {
		t.Errorf("the pin changed: %+v", after.Models[0])
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("the moved branch's file was placed")
	}
}

func TestPullRefusedByDefault(t *testing.T) {
	hub, _, _ := pullHub(t)
	o := pullOpts(hub, t.TempDir())
	o.sources = nil
	_, err := pullCmd(t, filepath.Join(t.TempDir(), "models.lock"), "hf:acme/demo-GGUF/demo.gguf", o)
	if err == nil || !strings.Contains(err.Error(), "models.sources: none") {
		t.Fatalf("err = %v, want a refusal naming the empty list", err)
	}
	o.sources = []string{"hf:Qwen/*"}
	_, err = pullCmd(t, filepath.Join(t.TempDir(), "models.lock"), "hf:acme/demo-GGUF/demo.gguf", o)
	if err == nil || !strings.Contains(err.Error(), "hf:Qwen/*") {
		t.Fatalf("err = %v, want a refusal listing hf:Qwen/*", err)
	}
	if len(hub.Ranges) != 0 {
		t.Error("a refused pull downloaded")
	}
}

// Off a terminal, a slow download writes a progress line every interval.
func TestPullProgressLines(t *testing.T) {
	hub, _, _ := pullHub(t)
	hub.Slow = 2 * time.Millisecond
	old := pullLogEvery
	pullLogEvery = 50 * time.Millisecond
	t.Cleanup(func() { pullLogEvery = old })
	out, err := pullCmd(t, filepath.Join(t.TempDir(), "models.lock"), "hf:acme/demo-GGUF/demo.gguf", pullOpts(hub, t.TempDir()))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if n := strings.Count(out, "downloading demo.gguf: "); n < 2 {
		t.Errorf("%d progress lines, want several:\n%s", n, out)
	}
}

// A gated repository is pulled with HF_TOKEN (or the file HF_TOKEN_PATH
// names), and the token appears in no output or log, even at debug level.
func TestPullGatedWithTokenNeverLogged(t *testing.T) {
	hub, _, _ := pullHub(t)
	hub.Token = "hf_s3cr3t_token_value"
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HF_HOME", t.TempDir())
	tokenFile := filepath.Join(t.TempDir(), "token")
	t.Setenv("HF_TOKEN_PATH", tokenFile)
	var all bytes.Buffer
	run := func() error {
		log := slog.New(slog.NewTextHandler(&all, &slog.HandlerOptions{Level: slog.LevelDebug}))
		return runModelsPull(context.Background(), filepath.Join(t.TempDir(), "models.lock"), "hf:acme/demo-GGUF/demo.gguf",
			pullOpts(hub, t.TempDir()), log, &all, &all)
	}
	if err := run(); err == nil || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Fatalf("without a token: err = %v, want a hint to set HF_TOKEN", err)
	}
	if err := os.WriteFile(tokenFile, []byte(hub.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(); err != nil {
		t.Fatalf("with the token file: %v\n%s", err, all.String())
	}
	t.Setenv("HF_TOKEN", "hf_wrong")
	err := run()
	if err == nil || !strings.Contains(err.Error(), "token in use was refused") {
		t.Fatalf("HF_TOKEN wins over the file, and a wrong one is named as refused: err = %v", err)
	}
	if strings.Contains(all.String()+err.Error(), "s3cr3t") || strings.Contains(all.String(), "hf_wrong") {
		t.Errorf("a token was printed:\n%s", all.String())
	}
}

// On a terminal the download bar redraws in place with a byte rate.
func TestDownloadBarOnTerminal(t *testing.T) {
	var buf bytes.Buffer
	b := newDownloadBar(&buf, "downloading m.gguf", 2<<20)
	b.term = true
	b.update(1 << 20)
	b.update(2 << 20)
	b.finish()
	out := buf.String()
	if !strings.HasPrefix(out, "\r") || !strings.Contains(out, "100%") || !strings.Contains(out, "/s") || !strings.HasSuffix(out, "\n") {
		t.Errorf("bar output %q, want an in-place redraw ending at 100%% with a rate and a newline", out)
	}
}
