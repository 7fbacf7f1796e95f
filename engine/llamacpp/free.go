package llamacpp

/*
// Declared here rather than through llama.h, whose include path lives in
// the module cache: the symbol comes from the llama package's objects.
struct llama_context;
void llama_free(struct llama_context *ctx);
*/
import "C"

import (
	"unsafe"

	"github.com/ollama/ollama/llama"
)

// contextLayout mirrors llama.Context at the pinned version (v0.17.4), which
// offers no way to free a context. TestContextLayout guards the mirror.
type contextLayout struct {
	c          *C.struct_llama_context
	numThreads int
}

// freeContext releases a context's KV cache and compute buffers.
func freeContext(c *llama.Context) {
	if c == nil {
		return
	}
	C.llama_free((*contextLayout)(unsafe.Pointer(c)).c)
}
