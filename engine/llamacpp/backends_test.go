package llamacpp

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The llama package searches for backend libraries once per process, so
// each case runs in a child process of this test binary with its own
// OLLAMA_LIBRARY_PATH. The child runs TestBackendsChild, which prints the
// report's explanations for the parent to check.

const childEnv = "WARDEN_BACKENDS_CHILD"

func TestBackendsChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("helper for TestBackendsExplain")
	}
	r := Backends()
	t.Logf("searched=%q", r.Searched)
	t.Logf("ignored=%q", r.Ignored)
	t.Logf("cpu=%v", r.Has("cpu"))
	t.Logf("cuda=%v", r.Has("cuda"))
	t.Logf("explain=%s", r.Explain("cuda"))
}

func runChild(t *testing.T, libPath string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBackendsChild$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1", "OLLAMA_LIBRARY_PATH="+libPath)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	return string(out)
}

func TestBackendsExplain(t *testing.T) {
	if _, err := os.Stat("/dev/nvidiactl"); err == nil {
		t.Skip("an NVIDIA driver is present; this test describes a machine without one")
	}
	root := t.TempDir()
	empty := filepath.Join(root, "empty", "lib", "ollama")
	broken := filepath.Join(root, "broken", "lib", "ollama")
	elsewhere := filepath.Join(root, "plugins")
	for _, d := range []string{empty, broken, elsewhere} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Not a shared object: ggml skips it silently; the report must not.
	fake := filepath.Join(broken, "libggml-cuda.so")
	if err := os.WriteFile(fake, []byte(strings.Repeat("not an ELF file\n", 64)), 0o755); err != nil {
		t.Fatal(err)
	}

	t.Run("no library", func(t *testing.T) {
		out := runChild(t, empty+string(os.PathListSeparator)+elsewhere)
		for _, want := range []string{
			"cpu=true", "cuda=false",
			`searched=["` + empty + `"]`,
			`ignored=["` + elsewhere + `"]`,
			"explain=no CUDA backend: no libggml-cuda.so in " + empty + " (make cuda",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("missing %q in:\n%s", want, out)
			}
		}
	})
	t.Run("broken library", func(t *testing.T) {
		out := runChild(t, broken)
		want := "explain=CUDA backend not loaded: " + fake + ": "
		if !strings.Contains(out, "cuda=false") || !strings.Contains(out, want) {
			t.Fatalf("missing cuda=false and %q in:\n%s", want, out)
		}
		// The dynamic loader's own words, e.g. "invalid ELF header".
		if !strings.Contains(out, "invalid ELF header") {
			t.Errorf("the loader's error is not passed on:\n%s", out)
		}
	})
}
