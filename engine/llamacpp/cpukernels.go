package llamacpp

/*
#cgo linux LDFLAGS: -ldl
#include <stdlib.h>
#include <dlfcn.h>

// As in devices.go: declared here, defined by the ggml objects the llama
// package links (ggml-backend-reg.cpp).
typedef struct ggml_backend_reg * ggml_backend_reg_t;
size_t ggml_backend_reg_count(void);
ggml_backend_reg_t ggml_backend_reg_get(size_t index);
const char * ggml_backend_reg_name(ggml_backend_reg_t reg);
void * ggml_backend_reg_get_proc_address(ggml_backend_reg_t reg, const char * name);
ggml_backend_reg_t ggml_backend_load(const char * path);
void ggml_backend_unload(ggml_backend_reg_t reg);
typedef struct ggml_backend_device * ggml_backend_dev_t;
size_t ggml_backend_dev_count(void);
ggml_backend_dev_t ggml_backend_dev_get(size_t index);
int ggml_backend_dev_type(ggml_backend_dev_t device);
ggml_backend_reg_t ggml_backend_dev_backend_reg(ggml_backend_dev_t device);

typedef void (*log_callback)(int level, const char * text, void * user_data);
void ggml_log_get(log_callback * callback, void ** user_data);

// forwardLog hands the variant's copy of ggml-base (libggml-base.so, which
// the library links, separate from the ggml compiled into the binary) the
// log callback the binary's ggml has, so its messages go through the same
// level filter instead of straight to stderr.
static const char * forwardLog(void) {
	void * h = dlopen("libggml-base.so.0", RTLD_NOW | RTLD_NOLOAD);
	if (h == NULL) {
		return dlerror();
	}
	void (*set)(log_callback, void *) = (void (*)(log_callback, void *)) dlsym(h, "ggml_log_set");
	if (set != NULL) {
		log_callback cb;
		void * user;
		ggml_log_get(&cb, &user);
		set(cb, user);
	}
	dlclose(h);
	return set == NULL ? "libggml-base.so.0 has no ggml_log_set" : NULL;
}

struct feature { const char * name; const char * value; };
typedef struct feature * (*get_features_fn)(ggml_backend_reg_t reg);

// features calls a backend's ggml_backend_get_features, found through its
// registry: a list ended by a NULL name.
static struct feature * features(ggml_backend_reg_t reg) {
	void * fn = ggml_backend_reg_get_proc_address(reg, "ggml_backend_get_features");
	return fn ? ((get_features_fn) fn)(reg) : NULL;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/ollama/ollama/llama"
	ggml "github.com/ollama/ollama/ml/backend/ggml/ggml/src"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/cpuvariant"
)

// ForceCPUVariantEnv names the environment variable that forces a CPU
// variant (or cpuvariant.BuiltIn) instead of the best one for this CPU.
const ForceCPUVariantEnv = "WARDEN_CPU_VARIANT"

// CPUReport is the outcome of choosing the CPU kernels: what runs, and what
// else was found and why it was not used.
type CPUReport struct {
	engine.CPUKernels
	Skipped []cpuvariant.Skipped // libraries found but not used, and why
	Err     error                // a forced variant that could not be used
	CPU     cpuvariant.Features  // what this CPU supports
}

// backends settles ggml's backends once per process: ggml's backend
// registry is itself process-wide, and the CPU backend must be chosen before
// any model or context uses it.
var backends struct {
	once   sync.Once
	report CPUReport
}

// initBackends is llama.BackendInit followed by the choice of CPU kernels
// for this CPU, unless choose has already run.
func initBackends() CPUReport {
	return initBackendsWith(func() CPUReport {
		features, err := cpuvariant.Detect()
		if err != nil {
			return CPUReport{CPUKernels: engine.CPUKernels{Variant: cpuvariant.BuiltIn, Note: err.Error()}}
		}
		return chooseCPUKernels(cpuLibraryDirs(), features, os.Getenv(ForceCPUVariantEnv))
	})
}

// initBackendsWith runs llama.BackendInit and then choose, the first time
// it is called in the process; later calls return that first report.
func initBackendsWith(choose func() CPUReport) CPUReport {
	backends.once.Do(func() {
		llama.BackendInit()
		backends.report = choose()
	})
	return backends.report
}

// CPUKernels loads ggml's backends if that has not happened yet and reports
// which CPU kernels run: a variant library from lib/ollama/cpu, or the ones
// built into the binary.
func CPUKernels() CPUReport { return initBackends() }

// cpuLibraryDirs are the cpu subfolders of the folders the llama package
// loads backends from (<exe>/../lib/ollama, or $OLLAMA_LIBRARY_PATH), so a
// checkout's bin/warden finds lib/ollama/cpu, and an installed
// /usr/local/bin/warden finds /usr/local/lib/ollama/cpu.
func cpuLibraryDirs() []string {
	searched, _ := searchedDirs(ggml.LibPaths())
	dirs := make([]string, len(searched))
	for i, d := range searched {
		dirs[i] = filepath.Join(d, "cpu")
	}
	return dirs
}

// chooseCPUKernels loads the best variant library in dirs that a CPU with
// these features can run (the first of the plan that ggml accepts), then
// removes the built-in CPU backend so that llama.cpp finds a single CPU
// device: the variant's, with its own repacking buffer types. ggml checks
// each library against CPUID again before running any of its code
// (ggml_backend_score); that check does not ask the operating system, this
// one does (cpuvariant.Detect).
func chooseCPUKernels(dirs []string, cpu cpuvariant.Features, force string) CPUReport {
	builtin, builtinFeatures := cpuRegistries()
	r := CPUReport{
		CPUKernels: engine.CPUKernels{Variant: cpuvariant.BuiltIn, Features: builtinFeatures.Names()},
		CPU:        cpu,
	}
	if builtin == nil {
		r.Note = "ggml already registered more than one CPU backend (a libggml-cpu-*.so in lib/ollama itself?); using ggml's choice"
		return r
	}
	libs := findCPULibraries(dirs)
	plan, err := cpuvariant.Choose(cpuvariant.Request{
		GOARCH: runtime.GOARCH, CPU: cpu, BuiltIn: builtinFeatures, Libraries: libs, Force: force,
	})
	if err != nil {
		r.Err = err
		r.Note = err.Error()
		return r
	}
	r.Skipped = plan.Skipped
	for _, c := range plan.Try {
		if err := loadCPUBackend(c.Path, c.Requires); err != nil {
			r.Skipped = append(r.Skipped, cpuvariant.Skipped{Library: c.Library, Reason: err.Error()})
			continue
		}
		C.ggml_backend_unload(builtin)
		r.CPUKernels = engine.CPUKernels{Variant: c.Variant, Library: c.Path, Features: c.Requires}
		if msg := C.forwardLog(); msg != nil {
			r.Note = "the variant's ggml messages bypass the log level: " + C.GoString(msg)
		}
		return r
	}
	switch {
	case force != "" && force != cpuvariant.BuiltIn:
		r.Err = fmt.Errorf("%s=%s: %s", ForceCPUVariantEnv, force, r.Skipped[len(r.Skipped)-1].Reason)
		r.Note = r.Err.Error()
	case force == cpuvariant.BuiltIn:
		r.Note = ForceCPUVariantEnv + "=" + cpuvariant.BuiltIn
	case len(libs) == 0:
		r.Note = fmt.Sprintf("no CPU variant libraries (libggml-cpu-*.so) in %v: make builds them", dirs)
	case len(plan.Try) == 0:
		r.Note = "no variant library adds a feature this CPU has to the built-in kernels"
	default:
		r.Note = "no variant library loaded"
	}
	return r
}

// cpuRegistries returns the built-in CPU backend's registry and what its
// kernels were compiled for; a nil registry if ggml has more than one CPU
// backend registered already.
func cpuRegistries() (C.ggml_backend_reg_t, cpuvariant.Features) {
	var found []C.ggml_backend_reg_t
	for i := range int(C.ggml_backend_reg_count()) {
		reg := C.ggml_backend_reg_get(C.size_t(i))
		if C.GoString(C.ggml_backend_reg_name(reg)) == "CPU" {
			found = append(found, reg)
		}
	}
	if len(found) != 1 {
		return nil, nil
	}
	return found[0], registryFeatures(found[0])
}

// registryFeatures is what a backend says it was compiled for: the
// features ggml lists with the value "1" (others, such as SVE_CNT, carry
// figures).
func registryFeatures(reg C.ggml_backend_reg_t) cpuvariant.Features {
	f := cpuvariant.Features{}
	p := C.features(reg)
	if p == nil {
		return f
	}
	for _, feat := range unsafe.Slice(p, 64) {
		if feat.name == nil {
			break
		}
		if C.GoString(feat.value) == "1" {
			f[C.GoString(feat.name)] = true
		}
	}
	return f
}

func findCPULibraries(dirs []string) []cpuvariant.Library {
	var libs []cpuvariant.Library
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if v, ok := cpuvariant.VariantOf(e.Name()); ok && !e.IsDir() {
				libs = append(libs, cpuvariant.Library{Variant: v, Path: filepath.Join(dir, e.Name())})
			}
		}
	}
	return libs
}

// loadCPUBackend registers a variant library with ggml, which refuses it if
// it cannot be opened, if its own CPUID check scores this CPU 0, or if its
// ggml version differs; the error says which, as far as can be told.
func loadCPUBackend(path string, requires []string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	reg := C.ggml_backend_load(cpath)
	if reg == nil {
		if msg := dlopenError(path); msg != "" {
			return fmt.Errorf("cannot be loaded: %s", msg)
		}
		return errors.New("ggml refused it: its CPU check (ggml_backend_score) says this CPU cannot run it, or it was built from another ggml version")
	}
	if name := C.GoString(C.ggml_backend_reg_name(reg)); name != "CPU" {
		C.ggml_backend_unload(reg)
		return fmt.Errorf("it registers a %q backend, not a CPU one", name)
	}
	// A library renamed or built with other flags would be trusted for
	// features it does not use; its own list must match its name.
	if missing := registryFeatures(reg).Lacks(requires); len(missing) > 0 {
		C.ggml_backend_unload(reg)
		return fmt.Errorf("its kernels were not compiled for %s, as its name says", strings.Join(missing, ", "))
	}
	return nil
}

// cpuDeviceFeatures lists, for each CPU device ggml has registered, in the
// order llama.cpp finds them, what its backend was compiled for.
func cpuDeviceFeatures() []cpuvariant.Features {
	var out []cpuvariant.Features
	for i := range int(C.ggml_backend_dev_count()) {
		d := C.ggml_backend_dev_get(C.size_t(i))
		if C.ggml_backend_dev_type(d) == 0 { // GGML_BACKEND_DEVICE_TYPE_CPU
			out = append(out, registryFeatures(C.ggml_backend_dev_backend_reg(d)))
		}
	}
	return out
}
