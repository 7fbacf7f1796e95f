package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warden-llm/warden/models/volume"
	"github.com/warden-llm/warden/store"
)

// hostPlacement is where a file in a fresh temporary folder lies on this
// host, as Warden sees it: the tests below expect refusals only for what
// the host really lacks.
func hostPlacement(t *testing.T) volume.Placement {
	t.Helper()
	path := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	readOnly := uint64(st.Flags)&1 != 0 // ST_RDONLY
	return volume.Placement{ReadOnlyMount: readOnly, Encryption: volume.System().Probe(f, path)}
}

// wardenEnv runs the binary with extra environment variables.
func wardenEnv(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, wardenBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestRequireRefusesEndToEnd: the demo model in the test's data directory
// lies on a writable, here unencrypted, temporary folder, so serve must
// refuse it under each requirement, whether set by flag, variable or file,
// and serve it without one. The positive read-only case needs a mount,
// which a test cannot make unprivileged; see the volume package's tests.
func TestRequireRefusesEndToEnd(t *testing.T) {
	host := hostPlacement(t)
	if host.ReadOnlyMount || host.Encryption.Encrypted {
		t.Skipf("this host's temporary folder already has the properties: %+v", host)
	}
	serve := []string{"serve", "--port", "0", "--lock", repoLock}
	config := filepath.Join(t.TempDir(), "warden.yaml")
	if err := os.WriteFile(config, []byte("models:\n  require: [read_only_mount, encrypted_volume]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"flag encrypted_volume", nil, []string{"--models-require", "encrypted_volume"},
			[]string{"lacks what models.require demands: encrypted_volume: encrypted at rest is ", volume.DocLink}},
		{"env read_only_mount", []string{"WARDEN_MODELS_REQUIRE=read_only_mount"}, nil,
			[]string{"lacks what models.require demands: read_only_mount: its filesystem is mounted read-write", volume.DocLink}},
		{"file both", nil, []string{"--config", config}, []string{"read_only_mount: ", "; encrypted_volume: "}},
		{"unknown value", nil, []string{"--models-require", "encrypted"},
			[]string{`--models-require (models.require): unknown requirement "encrypted": want read_only_mount, encrypted_volume`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append(serve, "--data-dir", t.TempDir()), tt.args...)
			out, err := wardenEnv(t, tt.env, args...)
			if err == nil {
				t.Fatalf("served despite models.require:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "msg=ready") {
				t.Errorf("became ready before refusing:\n%s", out)
			}
		})
	}

	w := startWarden(t, "--lock", repoLock)
	logs := w.logs.String()
	if !strings.Contains(logs, "read_only_mount=false") || !strings.Contains(logs, "encrypted_volume=") {
		t.Errorf("model verified line lacks the placement:\n%s", logs)
	}
}

// TestRequireAdminLoad: the loader behind the admin load endpoint applies
// models.require too; it refuses before llama.cpp is reached.
func TestRequireAdminLoad(t *testing.T) {
	if hostPlacement(t).ReadOnlyMount {
		t.Skip("temporary folder is read-only here")
	}
	dir, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l := &modelLoader{lockPath: repoLock, o: serveOptions{require: []volume.Requirement{volume.ReadOnlyMount}},
		dir: dir, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	_, err = l.Load(context.Background(), demoName)
	if err == nil || !strings.Contains(err.Error(), "refusing to load: model ") || !strings.Contains(err.Error(), "read_only_mount: ") {
		t.Errorf("admin load under read_only_mount: %v", err)
	}
}

// TestRequireModelsVerify: verify prints both properties, and fails a
// model lacking a required one as serve would refuse it.
func TestRequireModelsVerify(t *testing.T) {
	host := hostPlacement(t)
	if host.ReadOnlyMount {
		t.Skip("temporary folder is read-only here")
	}
	dir := t.TempDir()
	lock := filepath.Join(dir, "models.lock")
	writeTestModel(t, dir, "a.gguf", 1)
	if _, stderr, err := cli(t, "models", "add", "--lock", lock, filepath.Join(dir, "a.gguf")); err != nil {
		t.Fatalf("add: %v\n%s", err, stderr)
	}
	out, _, err := cli(t, "models", "verify", "--lock", lock, "--dir", dir)
	if err != nil || !strings.Contains(out, "ok    a  ") || !strings.Contains(out, "  read_only_mount=false encrypted_volume=") {
		t.Errorf("verify: %v\n%s", err, out)
	}
	out, _, err = cli(t, "models", "verify", "--lock", lock, "--dir", dir, "--models-require", "read_only_mount")
	if err == nil || !strings.Contains(out, "FAIL  a: model ") || !strings.Contains(out, "read_only_mount: its filesystem is mounted read-write") {
		t.Errorf("verify --models-require read_only_mount: %v\n%s", err, out)
	}
	if _, _, err := cli(t, "models", "verify", "--lock", lock, "--dir", dir, "--models-require", "bogus"); err == nil || !strings.Contains(err.Error(), "want read_only_mount, encrypted_volume") {
		t.Errorf("unknown requirement: %v", err)
	}
}

// TestRequireReadOnlyMountAccepted: the positive side of read_only_mount,
// where a mount can be made: in a private mount namespace (unshare), the
// models folder is bind-mounted read-only over itself, and verify
// --models-require read_only_mount must pass and report it. Skipped where
// unshare cannot make a mount namespace.
func TestRequireReadOnlyMountAccepted(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare here")
	}
	if err := exec.Command(unshare, "-rm", "true").Run(); err != nil {
		t.Skipf("unshare -rm cannot make a mount namespace here: %v", err)
	}
	models := filepath.Join(t.TempDir(), "models")
	if err := os.Mkdir(models, 0o700); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(t.TempDir(), "models.lock")
	path := writeTestModel(t, models, "a.gguf", 1)
	if out, err := runWarden(t, "models", "add", "--lock", lock, path); err != nil {
		t.Fatalf("add: %v\n%s", err, out)
	}
	script := `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2" models verify --lock "$3" --dir "$1" --models-require read_only_mount`
	out, err := exec.Command(unshare, "-rm", "sh", "-c", script, "sh", models, wardenBinary(t), lock).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok    a  ") || !strings.Contains(string(out), "read_only_mount=true") {
		t.Errorf("verify on a read-only bind mount: %v\n%s", err, out)
	}
}
