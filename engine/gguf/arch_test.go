package gguf

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestArchitecturesMatchLlamaCpp compares Architectures with the names in
// the llama.cpp source of the pinned module, so that an upgrade that adds
// or drops an architecture fails here until the list follows.
func TestArchitecturesMatchLlamaCpp(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/ollama/ollama").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("the llama.cpp module is not downloaded (go list: %v)", err)
	}
	src, err := os.ReadFile(filepath.Join(dir, "llama", "llama.cpp", "src", "llama-arch.cpp"))
	if err != nil {
		t.Fatal(err)
	}
	// The LLM_ARCH_NAMES table: { LLM_ARCH_LLAMA, "llama" }, ...
	table, _, _ := strings.Cut(string(src), "};")
	var names []string
	for _, m := range regexp.MustCompile(`\{\s*LLM_ARCH_\w+,\s*"([^"]+)"\s*\}`).FindAllStringSubmatch(table, -1) {
		if m[1] != "clip" && m[1] != "(unknown)" {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	if len(names) < 50 {
		t.Fatalf("found only %d architectures in llama-arch.cpp; has its layout changed?", len(names))
	}
	if got := Architectures(); !slices.Equal(got, names) {
		t.Errorf("Architectures() differs from llama-arch.cpp:\n got %v\nwant %v", got, names)
	}
	if KnownArchitecture("clip") || !KnownArchitecture("llama") || !KnownArchitecture("qwen2") {
		t.Error("KnownArchitecture: clip must be unknown, llama and qwen2 known")
	}
}
