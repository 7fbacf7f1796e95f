package llamacpp

/*
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

// Declared here rather than through llama.h (see free.go). ggml's callback
// takes an enum ggml_log_level, passed as int.
typedef void (*warden_log_fn)(int level, const char *text, void *user_data);
void llama_log_get(warden_log_fn *callback, void **user_data);
void llama_log_set(warden_log_fn callback, void *user_data);

// A tee in front of the installed logger (the llama package's): every
// message still reaches it, and a copy collects in buf.
typedef struct {
	warden_log_fn prev;
	void *prev_data;
	pthread_mutex_t mu; // llama.cpp may log from other threads meanwhile
	char *buf;
	size_t len, cap;
} warden_tee;

static void warden_tee_log(int level, const char *text, void *data) {
	warden_tee *t = data;
	size_t n = strlen(text);
	pthread_mutex_lock(&t->mu);
	if (t->len + n + 1 > t->cap) {
		size_t cap = 2 * (t->len + n + 1);
		char *buf = realloc(t->buf, cap);
		if (buf != NULL) {
			t->buf = buf;
			t->cap = cap;
		}
	}
	if (t->len + n + 1 <= t->cap) { // else out of memory: drop the copy
		memcpy(t->buf + t->len, text, n + 1);
		t->len += n;
	}
	pthread_mutex_unlock(&t->mu);
	if (t->prev != NULL) {
		t->prev(level, text, t->prev_data);
	}
}

static warden_tee *warden_tee_start(void) {
	warden_tee *t = calloc(1, sizeof *t);
	if (t == NULL) {
		return NULL;
	}
	pthread_mutex_init(&t->mu, NULL);
	llama_log_get(&t->prev, &t->prev_data);
	llama_log_set(warden_tee_log, t);
	return t;
}

// warden_tee_stop reinstalls the previous logger and frees the tee, handing
// what it collected to the caller, who frees it.
static void warden_tee_stop(warden_tee *t, char **out, size_t *len) {
	llama_log_set(t->prev, t->prev_data);
	*out = t->buf;
	*len = t->len;
	pthread_mutex_destroy(&t->mu);
	free(t);
}
*/
import "C"

import (
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// Buffer is one buffer llama.cpp reported allocating.
type Buffer struct {
	Name  string // buffer type: "CPU_Mapped", "CPU", "CUDA0", "CUDA_Host"
	Kind  string // "model", "KV", "RS" (recurrent state), "compute" or "output"
	Bytes uint64 // to the 0.01 MiB llama.cpp prints
}

// Memory is what llama.cpp allocated for a model and its context.
//
// The pinned C API has no call that returns buffer sizes (llama_model_size
// counts tensor bytes, not buffers; the per-buffer breakdown is C++ only),
// so Warden reads llama.cpp's own reports of each buffer it allocates: the
// "... buffer size = N MiB" lines it logs while loading, which print
// ggml_backend_buffer_get_size of every model, KV cache, compute and output
// buffer.
type Memory struct {
	Buffers []Buffer
}

// Sum is the size of the buffers of the given kinds.
func (m Memory) Sum(kinds ...string) uint64 {
	var n uint64
	for _, b := range m.Buffers {
		for _, k := range kinds {
			if b.Kind == k {
				n += b.Bytes
			}
		}
	}
	return n
}

// logMu serializes captures: llama.cpp has one logger per process, and a
// second tee installed over the first would be restored out of order.
var logMu sync.Mutex

// captureBuffers runs fn, which allocates llama.cpp memory, and returns the
// buffers llama.cpp logged allocating meanwhile.
func captureBuffers(fn func() error) (Memory, error) {
	logMu.Lock()
	defer logMu.Unlock()
	t := C.warden_tee_start()
	if t == nil {
		return Memory{}, fn() // no memory for the tee: load without the figures
	}
	err := fn()
	var text *C.char
	var n C.size_t
	C.warden_tee_stop(t, &text, &n)
	defer C.free(unsafe.Pointer(text))
	return parseBuffers(C.GoStringN(text, C.int(n))), err
}

// parseBuffers picks the buffer reports out of llama.cpp's log, lines like
//
//	load_tensors:   CPU_Mapped model buffer size =   590.41 MiB
//	llama_kv_cache:        CPU KV buffer size =    44.00 MiB
func parseBuffers(log string) Memory {
	var m Memory
	for _, line := range strings.Split(log, "\n") {
		f := strings.Fields(line)
		if len(f) != 8 || f[3] != "buffer" || f[4] != "size" || f[5] != "=" || f[7] != "MiB" {
			continue
		}
		mib, err := strconv.ParseFloat(f[6], 64)
		if err != nil || mib < 0 {
			continue
		}
		m.Buffers = append(m.Buffers, Buffer{Name: f[1], Kind: f[2], Bytes: uint64(mib * (1 << 20))})
	}
	return m
}
