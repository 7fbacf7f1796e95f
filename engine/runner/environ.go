package runner

import "strings"

// Environ is the environment an engine process gets: from env, only what
// llama.cpp, its GPU drivers and the Go runtime read. Everything else,
// the server's settings and any secret passed in a variable among them,
// stays in the parent.
func Environ(env []string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if passes(name) {
			out = append(out, kv)
		}
	}
	return out
}

// passedPrefixes and passedNames are the variables an engine may need.
var (
	passedPrefixes = []string{"CUDA_", "GGML_", "OLLAMA_", "HIP_", "ROCR_", "HSA_", "GPU_", "NVIDIA_", "MTL_", "METAL_", "WARDEN_CPU_", "WARDEN_TEST_ENGINE_"}
	passedNames    = []string{"PATH", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ", "GOMAXPROCS", "GODEBUG", "GOTRACEBACK", "GOGC", "GOMEMLIMIT"}
)

func passes(name string) bool {
	for _, p := range passedPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	for _, n := range passedNames {
		if name == n {
			return true
		}
	}
	return false
}
