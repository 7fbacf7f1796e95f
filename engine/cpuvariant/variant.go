// Package cpuvariant decides which build of ggml's CPU backend suits the
// running CPU. bin/warden carries CPU kernels compiled for one baseline
// (x86-64-v3 by default); beside it, lib/ollama/cpu holds the same kernels
// compiled for newer feature levels (libggml-cpu-icelake.so, ...), and the
// engine loads the best one this CPU can run. A variant whose instructions
// the CPU (or its operating system) lacks is never chosen: running it would
// end the process with an illegal instruction.
package cpuvariant

import (
	"fmt"
	"slices"
	"strings"
)

// Features is a set of CPU features, named as ggml's CPU backend names them
// (ggml_backend_cpu_get_features): AVX2, AVX512, AVX512_VNNI, AMX_INT8, ...
type Features map[string]bool

// Of returns the set of the named features.
func Of(names ...string) Features {
	f := make(Features, len(names))
	for _, n := range names {
		f[n] = true
	}
	return f
}

// Lacks returns the features of want that f does not have, sorted.
func (f Features) Lacks(want []string) []string {
	var missing []string
	for _, w := range want {
		if !f[w] {
			missing = append(missing, w)
		}
	}
	slices.Sort(missing)
	return missing
}

// Names lists the features, sorted.
func (f Features) Names() []string {
	names := make([]string, 0, len(f))
	for n, ok := range f {
		if ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// String lists the features, sorted and comma-separated.
func (f Features) String() string { return strings.Join(f.Names(), ",") }

// Variant is one build of the CPU backend: libggml-cpu-NAME.so, compiled for
// (and requiring) every feature in Requires.
type Variant struct {
	Name     string
	Requires []string
}

// The variants, best first, with the features their compile flags assume.
// The names and feature lists are those of ggml's GGML_CPU_ALL_VARIANTS
// (ml/backend/ggml/ggml/src/CMakeLists.txt in the ollama module), plus zen4
// and sapphirerapids as later llama.cpp defines them; deploy/build-backend.sh
// builds the same list. The order is ggml's score order: the variant using
// the most (and the most valuable) features first.
var (
	x86 = []Variant{
		{"sapphirerapids", []string{"AVX", "AVX2", "F16C", "FMA", "BMI2", "AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "AMX_INT8"}},
		{"zen4", []string{"AVX", "AVX2", "F16C", "FMA", "BMI2", "AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16"}},
		{"icelake", []string{"AVX", "AVX2", "F16C", "FMA", "BMI2", "AVX512", "AVX512_VBMI", "AVX512_VNNI"}},
		{"skylakex", []string{"AVX", "AVX2", "F16C", "FMA", "BMI2", "AVX512"}},
		{"alderlake", []string{"AVX", "AVX2", "F16C", "FMA", "BMI2", "AVX_VNNI"}},
		{"haswell", []string{"AVX", "AVX2", "F16C", "FMA", "BMI2"}},
	}
	arm64 = []Variant{
		{"armv9.2_2", []string{"DOTPROD", "FP16_VA", "SVE", "MATMUL_INT8", "SVE2", "SME"}},
		{"armv9.2_1", []string{"DOTPROD", "FP16_VA", "SVE", "MATMUL_INT8", "SME"}},
		{"armv8.6_2", []string{"DOTPROD", "FP16_VA", "SVE", "MATMUL_INT8", "SVE2"}},
		{"armv8.6_1", []string{"DOTPROD", "FP16_VA", "SVE", "MATMUL_INT8"}},
		{"armv8.2_3", []string{"DOTPROD", "FP16_VA", "SVE"}},
		{"armv8.2_2", []string{"DOTPROD", "FP16_VA"}},
		{"armv8.2_1", []string{"DOTPROD"}},
	}
)

// Variants returns the variants defined for a GOARCH, best first; none for
// other architectures.
func Variants(goarch string) []Variant {
	switch goarch {
	case "amd64":
		return slices.Clone(x86)
	case "arm64":
		return slices.Clone(arm64)
	}
	return nil
}

// BuiltIn is the name used for the kernels compiled into the binary, and the
// value of WARDEN_CPU_VARIANT that forces them.
const BuiltIn = "built-in"

// Library is a variant's shared library found on disk.
type Library struct {
	Variant string // from the file name: libggml-cpu-NAME.so
	Path    string
}

// LibraryName is the file name of a variant's library.
func LibraryName(variant string) string { return "libggml-cpu-" + variant + ".so" }

// VariantOf returns the variant a library file name stands for, if it is one.
func VariantOf(file string) (string, bool) {
	name, ok := strings.CutPrefix(file, "libggml-cpu-")
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, ".so")
	if !ok || name == "" {
		return "", false
	}
	return name, true
}

// Skipped is a library not tried, and why.
type Skipped struct {
	Library
	Reason string
}

// Plan is the outcome of Choose: the libraries to try, in order (the first
// that loads wins; if none does, the built-in kernels run), and those left
// out with the reason.
type Plan struct {
	Try     []Candidate
	Skipped []Skipped
}

// Candidate is a library to try, with the features that qualified it.
type Candidate struct {
	Library
	Requires []string
}

// Request is what Choose decides from.
type Request struct {
	GOARCH    string
	CPU       Features  // what this CPU and its operating system support
	BuiltIn   Features  // what the binary's own kernels were compiled for
	Libraries []Library // what is on disk
	Force     string    // WARDEN_CPU_VARIANT: a variant name, BuiltIn, or "" to choose
}

// Choose orders the libraries worth trying: variants this CPU supports that
// use some feature the built-in kernels do not, best first. A forced variant
// is the only candidate, and an error if it is unknown, absent or needs a
// feature this CPU lacks: forcing never overrides the CPU check.
func Choose(r Request) (Plan, error) {
	variants := Variants(r.GOARCH)
	known := func(name string) (Variant, bool) {
		i := slices.IndexFunc(variants, func(v Variant) bool { return v.Name == name })
		if i < 0 {
			return Variant{}, false
		}
		return variants[i], true
	}
	var plan Plan
	if r.Force != "" {
		if r.Force == BuiltIn {
			for _, l := range r.Libraries {
				plan.Skipped = append(plan.Skipped, Skipped{l, "WARDEN_CPU_VARIANT=" + BuiltIn})
			}
			return plan, nil
		}
		v, ok := known(r.Force)
		if !ok {
			return Plan{}, fmt.Errorf("WARDEN_CPU_VARIANT=%s: not a CPU variant for %s (choose %s or one of: %s)",
				r.Force, r.GOARCH, BuiltIn, strings.Join(names(variants), ", "))
		}
		if missing := r.CPU.Lacks(v.Requires); len(missing) > 0 {
			return Plan{}, fmt.Errorf("WARDEN_CPU_VARIANT=%s: this CPU lacks %s, which that variant's code uses",
				r.Force, strings.Join(missing, ", "))
		}
		i := slices.IndexFunc(r.Libraries, func(l Library) bool { return l.Variant == r.Force })
		if i < 0 {
			return Plan{}, fmt.Errorf("WARDEN_CPU_VARIANT=%s: no %s found", r.Force, LibraryName(r.Force))
		}
		plan.Try = []Candidate{{r.Libraries[i], v.Requires}}
		for j, l := range r.Libraries {
			if j != i {
				plan.Skipped = append(plan.Skipped, Skipped{l, "WARDEN_CPU_VARIANT=" + r.Force})
			}
		}
		return plan, nil
	}

	for _, v := range variants {
		for _, l := range r.Libraries {
			if l.Variant != v.Name {
				continue
			}
			switch missing := r.CPU.Lacks(v.Requires); {
			case len(missing) > 0:
				plan.Skipped = append(plan.Skipped, Skipped{l, "this CPU lacks " + strings.Join(missing, ", ")})
			case len(r.BuiltIn.Lacks(v.Requires)) == 0:
				plan.Skipped = append(plan.Skipped, Skipped{l, "the built-in kernels already use " + strings.Join(v.Requires, ", ")})
			default:
				plan.Try = append(plan.Try, Candidate{l, v.Requires})
			}
		}
	}
	for _, l := range r.Libraries {
		if _, ok := known(l.Variant); !ok {
			plan.Skipped = append(plan.Skipped, Skipped{l, "not a variant Warden knows the requirements of"})
		}
	}
	return plan, nil
}

func names(vs []Variant) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Name
	}
	return out
}
