package llamacpp

/*
#cgo linux LDFLAGS: -ldl
#include <stddef.h>
#include <stdlib.h>
#include <dlfcn.h>

// Declared here for the same reason as in devices.go: the symbols come from
// the ggml objects the llama package links.
typedef struct ggml_backend_reg * ggml_backend_reg_t;
size_t ggml_backend_reg_count(void);
ggml_backend_reg_t ggml_backend_reg_get(size_t index);
const char * ggml_backend_reg_name(ggml_backend_reg_t reg);
size_t ggml_backend_reg_dev_count(ggml_backend_reg_t reg);

// tryOpen loads a library the way ggml does and returns the dynamic
// loader's message if that fails, or NULL. ggml itself stays silent about
// it in release builds (NDEBUG), which leaves "no GPU" unexplained.
static const char * tryOpen(const char * path) {
	void * h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		return dlerror();
	}
	dlclose(h);
	return NULL;
}
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"unsafe"

	ggml "github.com/ollama/ollama/ml/backend/ggml/ggml/src"
)

// Backend is one registered ggml backend: built into the binary (CPU; on
// Apple Silicon also Metal and BLAS) or loaded from a library such as
// libggml-cuda.so.
type Backend struct {
	Name    string // ggml's name: "CPU", "CUDA", "BLAS", "Metal", "ROCm"
	Devices int
}

// BackendLibrary is a libggml-NAME.so file in a folder the engine searches,
// and what became of it.
type BackendLibrary struct {
	Path   string
	Name   string // from the file name: "cuda", "blas"
	Loaded bool   // a backend of this name is registered
	Error  string // when not loaded: the dynamic loader's message, or why not
}

// BackendReport says which backends ggml registered and which libraries it
// looked at. The llama package decides where to look (llama.BackendInit):
// the folder ../lib/ollama beside the executable, or $OLLAMA_LIBRARY_PATH,
// whose entries count only if they contain "lib/ollama" or are the
// executable's own folder.
type BackendReport struct {
	Searched  []string // folders searched for backend libraries
	Ignored   []string // $OLLAMA_LIBRARY_PATH entries the llama package skips
	Backends  []Backend
	Libraries []BackendLibrary
}

// libraryAliases maps a library's name to the backend name it registers
// where the two differ.
var libraryAliases = map[string]string{"hip": "ROCm"}

// Backends loads ggml's backends if no model has done so yet and reports
// what is registered and which libraries were found.
func Backends() BackendReport {
	initBackends()
	var r BackendReport
	for i := range int(C.ggml_backend_reg_count()) {
		reg := C.ggml_backend_reg_get(C.size_t(i))
		r.Backends = append(r.Backends, Backend{
			Name:    C.GoString(C.ggml_backend_reg_name(reg)),
			Devices: int(C.ggml_backend_reg_dev_count(reg)),
		})
	}
	r.Searched, r.Ignored = searchedDirs(ggml.LibPaths())
	for _, dir := range r.Searched {
		files, _ := filepath.Glob(filepath.Join(dir, "libggml-*.so"))
		for _, f := range files {
			name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "libggml-"), ".so")
			name, _, _ = strings.Cut(name, "-") // libggml-cpu-haswell.so: a variant of cpu
			if name == "base" {
				continue // ggml's core, which the backends link
			}
			lib := BackendLibrary{Path: f, Name: name, Loaded: r.Has(name)}
			if !lib.Loaded {
				lib.Error = openError(f)
			}
			r.Libraries = append(r.Libraries, lib)
		}
	}
	return r
}

// searchedDirs applies the llama package's rule (OnceLoad in
// ml/backend/ggml/ggml/src/ggml.go) to the folders it was given.
func searchedDirs(paths []string) (searched, ignored []string) {
	exe, err := os.Executable()
	if err != nil {
		exe = "."
	}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			continue
		}
		if abs != filepath.Dir(exe) && !strings.Contains(abs, filepath.FromSlash("lib/ollama")) {
			ignored = append(ignored, abs)
		} else if !slices.Contains(searched, abs) {
			searched = append(searched, abs)
		}
	}
	return searched, ignored
}

func openError(path string) string {
	if msg := dlopenError(path); msg != "" {
		return msg
	}
	return "the library loads, but ggml registered no backend from it (a different ggml version?)"
}

// dlopenError is the dynamic loader's message for a library it cannot
// open, or "" if it opens.
func dlopenError(path string) string {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	if msg := C.tryOpen(cpath); msg != nil {
		// glibc starts its message with the path, which the caller has.
		return strings.TrimPrefix(C.GoString(msg), path+": ")
	}
	return ""
}

// Has reports whether a backend of this name is registered, ignoring case;
// library names ("cuda", "hip") are accepted too.
func (r BackendReport) Has(name string) bool {
	_, ok := r.find(name)
	return ok
}

func (r BackendReport) find(name string) (Backend, bool) {
	if alias, ok := libraryAliases[strings.ToLower(name)]; ok {
		name = alias
	}
	for _, b := range r.Backends {
		if strings.EqualFold(b.Name, name) {
			return b, true
		}
	}
	return Backend{}, false
}

// Explain says in one sentence whether the backend of a library name
// ("cuda") is in use and, if not, why: no library, or the loader's error.
func (r BackendReport) Explain(name string) string {
	label := strings.ToUpper(name)
	if b, ok := r.find(name); ok {
		if b.Devices == 0 {
			return fmt.Sprintf("%s backend loaded, but it found no device (is the driver installed and the device visible?)", label)
		}
		return fmt.Sprintf("%s backend loaded: %d device(s)", label, b.Devices)
	}
	for _, lib := range r.Libraries {
		if strings.EqualFold(lib.Name, name) {
			return fmt.Sprintf("%s backend not loaded: %s: %s", label, lib.Path, lib.Error)
		}
	}
	where := "no folder (none of $OLLAMA_LIBRARY_PATH contains lib/ollama)"
	if len(r.Searched) > 0 {
		where = strings.Join(r.Searched, ", ")
	}
	msg := fmt.Sprintf("no %s backend: no libggml-%s.so in %s", label, strings.ToLower(name), where)
	if strings.EqualFold(name, "cuda") {
		msg += " (make cuda builds it: docs/build-gpu.md)"
	}
	return msg
}

// LibraryDirs are the folders the llama package loads backend libraries
// from (llama.BackendInit; ggml.OnceLoad's rule): $OLLAMA_LIBRARY_PATH's
// entries, or else ../lib/ollama beside the executable (its own folder on
// macOS). It is what a sandboxed engine process must be allowed to map,
// worked out before the backends load, as ggml.LibPaths is only then.
func LibraryDirs() []string {
	paths, ok := os.LookupEnv("OLLAMA_LIBRARY_PATH")
	if !ok {
		exe, err := os.Executable()
		if err != nil {
			return nil
		}
		paths = filepath.Join(filepath.Dir(exe), "..", "lib", "ollama")
		if runtime.GOOS == "darwin" {
			paths = filepath.Dir(exe)
		}
	}
	searched, _ := searchedDirs(filepath.SplitList(paths))
	return searched
}
