package cpuvariant

import (
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// Feature sets of real CPUs, as ParseCPUInfo reads them (testdata holds the
// flags lines).
var (
	haswellCPU = Of("AVX", "AVX2", "F16C", "FMA", "BMI2")
	alderCPU   = Of("AVX", "AVX2", "F16C", "FMA", "BMI2", "AVX_VNNI")
	zen4CPU    = Of("AVX", "AVX2", "F16C", "FMA", "BMI2", "AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16")
	sprCPU     = Of("AVX", "AVX2", "F16C", "FMA", "BMI2", "AVX_VNNI", "AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "AMX_INT8")
	v3BuiltIn  = Of("SSE3", "SSSE3", "AVX", "AVX2", "F16C", "FMA", "BMI2", "LLAMAFILE", "REPACK")
)

func allLibraries(goarch string) []Library {
	var libs []Library
	for _, v := range Variants(goarch) {
		libs = append(libs, Library{v.Name, "/lib/ollama/cpu/" + LibraryName(v.Name)})
	}
	return libs
}

func tried(p Plan) []string {
	var out []string
	for _, c := range p.Try {
		out = append(out, c.Variant)
	}
	return out
}

func TestChooseBestSupportedFirst(t *testing.T) {
	for _, tc := range []struct {
		name string
		cpu  Features
		want []string
	}{
		{"sapphire rapids", sprCPU, []string{"sapphirerapids", "zen4", "icelake", "skylakex", "alderlake"}},
		{"zen 4", zen4CPU, []string{"zen4", "icelake", "skylakex"}},
		{"alder lake", alderCPU, []string{"alderlake"}},
		{"haswell", haswellCPU, nil},         // the built-in kernels already cover it
		{"no AVX", Of("SSE3", "SSSE3"), nil}, // nothing fits
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Choose(Request{GOARCH: "amd64", CPU: tc.cpu, BuiltIn: v3BuiltIn, Libraries: allLibraries("amd64")})
			if err != nil {
				t.Fatal(err)
			}
			if got := tried(p); !slices.Equal(got, tc.want) {
				t.Fatalf("tries %v, want %v", got, tc.want)
			}
			if len(p.Try)+len(p.Skipped) != len(Variants("amd64")) {
				t.Fatalf("%d tried + %d skipped, want every library accounted for", len(p.Try), len(p.Skipped))
			}
		})
	}
}

// The property the whole package exists for: whatever the CPU, the libraries,
// the built-in kernels and the forced name, no candidate ever needs a feature
// the CPU lacks.
func TestChooseNeverOffersUnsupportedCode(t *testing.T) {
	all := []string{"AVX", "AVX2", "F16C", "FMA", "BMI2", "AVX_VNNI", "AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "AMX_INT8"}
	forces := []string{"", BuiltIn}
	for _, v := range Variants("amd64") {
		forces = append(forces, v.Name)
	}
	for mask := range 1 << len(all) {
		cpu := Features{}
		for i, f := range all {
			if mask&(1<<i) != 0 {
				cpu[f] = true
			}
		}
		for _, force := range forces {
			p, err := Choose(Request{GOARCH: "amd64", CPU: cpu, BuiltIn: v3BuiltIn, Libraries: allLibraries("amd64"), Force: force})
			if err != nil {
				continue
			}
			for _, c := range p.Try {
				if missing := cpu.Lacks(c.Requires); len(missing) > 0 {
					t.Fatalf("cpu %v, force %q: offered %s, which needs %v", cpu, force, c.Variant, missing)
				}
				v := Variants("amd64")[slices.IndexFunc(Variants("amd64"), func(v Variant) bool { return v.Name == c.Variant })]
				if !slices.Equal(c.Requires, v.Requires) {
					t.Fatalf("%s offered with requirements %v, the table says %v", c.Variant, c.Requires, v.Requires)
				}
			}
		}
	}
}

func TestChooseForced(t *testing.T) {
	libs := allLibraries("amd64")
	p, err := Choose(Request{GOARCH: "amd64", CPU: sprCPU, BuiltIn: v3BuiltIn, Libraries: libs, Force: "skylakex"})
	if err != nil {
		t.Fatal(err)
	}
	if got := tried(p); !slices.Equal(got, []string{"skylakex"}) {
		t.Fatalf("forced skylakex: tries %v", got)
	}

	p, err = Choose(Request{GOARCH: "amd64", CPU: sprCPU, BuiltIn: v3BuiltIn, Libraries: libs, Force: BuiltIn})
	if err != nil || len(p.Try) != 0 || len(p.Skipped) != len(libs) {
		t.Fatalf("forced built-in: %+v, %v", p, err)
	}

	for _, tc := range []struct {
		force, cpu string
		cpuSet     Features
		libs       []Library
		want       string
	}{
		{"icelake", "alder lake", alderCPU, libs, "lacks AVX512, AVX512_VBMI, AVX512_VNNI"},
		{"sapphirerapids", "zen 4", zen4CPU, libs, "lacks AMX_INT8"},
		{"icelake", "sapphire rapids", sprCPU, libs[:1], "no libggml-cpu-icelake.so"},
		{"pentium", "sapphire rapids", sprCPU, libs, "not a CPU variant"},
	} {
		_, err := Choose(Request{GOARCH: "amd64", CPU: tc.cpuSet, BuiltIn: v3BuiltIn, Libraries: tc.libs, Force: tc.force})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("force %s on %s: error %v, want one containing %q", tc.force, tc.cpu, err, tc.want)
		}
	}
}

func TestChooseSkipsWhatTheBuiltInHas(t *testing.T) {
	// A CPU=native build on a Zen 4 host: its own kernels use everything the
	// zen4 variant would, so loading a library gains nothing.
	native := Of("AVX", "AVX2", "F16C", "FMA", "BMI2", "AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "REPACK")
	p, err := Choose(Request{GOARCH: "amd64", CPU: zen4CPU, BuiltIn: native, Libraries: allLibraries("amd64")})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Try) != 0 {
		t.Fatalf("tries %v over native built-in kernels", tried(p))
	}
	i := slices.IndexFunc(p.Skipped, func(s Skipped) bool { return s.Variant == "zen4" })
	if i < 0 || !strings.Contains(p.Skipped[i].Reason, "built-in kernels already use") {
		t.Fatalf("zen4 skipped as %+v", p.Skipped)
	}
}

func TestChooseUnknownLibrary(t *testing.T) {
	libs := []Library{{"cooperlake", "/x/libggml-cpu-cooperlake.so"}}
	p, err := Choose(Request{GOARCH: "amd64", CPU: sprCPU, BuiltIn: v3BuiltIn, Libraries: libs})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Try) != 0 || len(p.Skipped) != 1 || !strings.Contains(p.Skipped[0].Reason, "requirements") {
		t.Fatalf("an unknown variant must not be tried (its needs are unknown): %+v", p)
	}
}

func TestChooseARM(t *testing.T) {
	graviton3 := Of("DOTPROD", "FP16_VA", "SVE", "MATMUL_INT8")
	p, err := Choose(Request{GOARCH: "arm64", CPU: graviton3, BuiltIn: Of("NEON"), Libraries: allLibraries("arm64")})
	if err != nil {
		t.Fatal(err)
	}
	if got := tried(p); !slices.Equal(got, []string{"armv8.6_1", "armv8.2_3", "armv8.2_2", "armv8.2_1"}) {
		t.Fatalf("graviton3 tries %v", got)
	}
	if len(Variants("riscv64")) != 0 {
		t.Fatal("no variants are defined for riscv64")
	}
}

func TestVariantOf(t *testing.T) {
	for file, want := range map[string]string{
		"libggml-cpu-icelake.so":   "icelake",
		"libggml-cpu-armv8.2_1.so": "armv8.2_1",
		"libggml-cpu-.so":          "",
		"libggml-cuda.so":          "",
		"libggml-cpu-icelake.so.1": "",
	} {
		got, ok := VariantOf(file)
		if got != want || ok != (want != "") {
			t.Errorf("VariantOf(%q) = %q, %v; want %q", file, got, ok, want)
		}
	}
}

func TestParseCPUInfo(t *testing.T) {
	for _, tc := range []struct {
		file, goarch string
		want         Features
	}{
		{"testdata/sapphirerapids.cpuinfo", "amd64", sprCPU},
		{"testdata/zen4.cpuinfo", "amd64", zen4CPU},
		{"testdata/haswell.cpuinfo", "amd64", haswellCPU},
		// A guest whose hypervisor hides the AVX-512 state: avx512f is
		// absent, so no AVX-512 variant may run even though other AVX-512
		// flags remain.
		{"testdata/avx512-partial.cpuinfo", "amd64", Of("AVX", "AVX2", "F16C", "FMA", "BMI2", "AVX512_VNNI")},
		{"testdata/graviton3.cpuinfo", "arm64", Of("DOTPROD", "FP16_VA", "SVE", "MATMUL_INT8")},
	} {
		f, err := os.Open(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseCPUInfo(f, tc.goarch)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if got.String() != tc.want.String() {
			t.Errorf("%s: %s\nwant %s", tc.file, got, tc.want)
		}
	}
	if _, err := ParseCPUInfo(strings.NewReader("processor: 0\n"), "amd64"); err == nil {
		t.Error("a cpuinfo without flags must be an error, not an empty feature set")
	}
}

func TestDetectAgreesWithCPUInfo(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/cpuinfo")
	}
	got, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	flags, err := ParseCPUInfo(strings.NewReader(string(raw)), runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	for f := range got {
		if !flags[f] {
			t.Errorf("Detect reports %s, which /proc/cpuinfo does not list", f)
		}
	}
	t.Logf("this CPU: %s", got)
}
