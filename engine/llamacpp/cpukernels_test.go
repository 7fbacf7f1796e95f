package llamacpp

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/cpuvariant"
	"github.com/warden-llm/warden/engine/gguf"
	"github.com/warden-llm/warden/models/testmodel"
)

// ggml settles its CPU backend once per process, so each case runs in a
// child process of this test binary (TestCPUKernelsChild), which chooses
// with the folders, CPU features and forced variant the parent hands it,
// optionally generates text, and prints what happened as JSON.

const cpuChildEnv = "WARDEN_CPUKERNELS_CHILD"

type cpuChildResult struct {
	Variant  string
	Library  string
	Note     string
	Err      string
	Skipped  map[string]string // variant: reason
	Devices  []string          // per CPU device: the features its backend was compiled for
	Text     string            // greedy continuation, when asked for
	GenError string
	Output   string `json:"-"` // the child's whole output
}

func TestCPUKernelsChild(t *testing.T) {
	if os.Getenv(cpuChildEnv) == "" {
		t.Skip("helper for the TestCPUKernels tests")
	}
	real, err := cpuvariant.Detect()
	if err != nil {
		t.Fatal(err)
	}
	// A test may pretend the CPU has fewer features, never more: the
	// libraries it loads run for real.
	cpu := real
	if list := os.Getenv("CHILD_FEATURES"); list != "real" {
		cpu = cpuvariant.Features{}
		for _, f := range strings.Split(list, ",") {
			if real[f] {
				cpu[f] = true
			}
		}
	}
	r := initBackendsWith(func() CPUReport {
		return chooseCPUKernels(filepath.SplitList(os.Getenv("CHILD_DIRS")), cpu, os.Getenv("CHILD_FORCE"))
	})
	out := cpuChildResult{Variant: r.Variant, Library: r.Library, Note: r.Note, Skipped: map[string]string{}}
	if r.Err != nil {
		out.Err = r.Err.Error()
	}
	for _, s := range r.Skipped {
		out.Skipped[s.Variant] = s.Reason
	}
	for _, f := range cpuDeviceFeatures() {
		out.Devices = append(out.Devices, f.String())
	}
	if path := os.Getenv("CHILD_MODEL"); path != "" && r.Err == nil {
		m, err := Load(context.Background(), Config{Path: path, Context: 256, Parallel: 1, Threads: 2})
		if err != nil {
			out.GenError = err.Error()
		} else {
			var sb strings.Builder
			_, err = m.Generate(context.Background(), engine.Request{
				Prompt: "Once upon a time", MaxTokens: 24, Sampling: engine.Sampling{Temperature: 0},
			}, func(s string) error { sb.WriteString(s); return nil })
			out.Text = sb.String()
			if err != nil {
				out.GenError = err.Error()
			}
			m.Close()
		}
	}
	b, _ := json.Marshal(out)
	t.Logf("RESULT %s", b)
}

// variantLibraries finds the libraries make builds in lib/ollama/cpu (or
// $WARDEN_CPU_LIBS), skipping the test without them unless make test
// demands them ($WARDEN_REQUIRE_CPU_VARIANTS).
func variantLibraries(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("WARDEN_CPU_LIBS")
	if dir == "" {
		dir = filepath.Join("..", "..", "lib", "ollama", "cpu")
	}
	libs, _ := filepath.Glob(filepath.Join(dir, "libggml-cpu-*.so"))
	if len(libs) == 0 {
		msg := "no CPU variant libraries in " + dir + " (make cpu-variants builds them; or set WARDEN_CPU_LIBS)"
		if os.Getenv("WARDEN_REQUIRE_CPU_VARIANTS") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// copyLibraries copies the variant libraries and libggml-base.so into a
// fresh folder, leaving out the variants named in leave.
func copyLibraries(t *testing.T, from string, leave ...string) string {
	t.Helper()
	to := t.TempDir()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if v, ok := cpuvariant.VariantOf(e.Name()); ok && slices.Contains(leave, v) {
			continue
		}
		src, err := os.Open(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(to, e.Name()))
		if err == nil {
			_, err = io.Copy(dst, src)
		}
		src.Close()
		if err != nil || dst.Close() != nil {
			t.Fatalf("copy %s: %v", e.Name(), err)
		}
	}
	return to
}

func runCPUChild(t *testing.T, dirs, features, force, model string) cpuChildResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCPUKernelsChild$", "-test.v")
	cmd.Env = append(os.Environ(), cpuChildEnv+"=1", "CHILD_DIRS="+dirs, "CHILD_FEATURES="+features,
		"CHILD_FORCE="+force, "CHILD_MODEL="+model, "OLLAMA_LIBRARY_PATH="+filepath.Join(t.TempDir(), "lib", "ollama"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child (features %s, force %q) failed, which a wrong variant would cause (SIGILL): %v\n%s", features, force, err, out)
	}
	_, line, ok := strings.Cut(string(out), "RESULT ")
	if !ok {
		t.Fatalf("child printed no result:\n%s", out)
	}
	line, _, _ = strings.Cut(line, "\n")
	var r cpuChildResult
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatalf("child result %q: %v", line, err)
	}
	r.Output = string(out)
	return r
}

// expected is what Choose offers first for these features from these
// libraries, given the kernels this test binary has built in.
func expectedVariant(t *testing.T, dir string, cpu cpuvariant.Features) cpuvariant.Candidate {
	t.Helper()
	plan, err := cpuvariant.Choose(cpuvariant.Request{
		GOARCH: "amd64", CPU: cpu, BuiltIn: builtInFeatures(t), Libraries: findCPULibraries([]string{dir}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Try) == 0 {
		return cpuvariant.Candidate{Library: cpuvariant.Library{Variant: cpuvariant.BuiltIn}}
	}
	return plan.Try[0]
}

// builtInFeatures asks a child with no variant libraries what the built-in
// kernels were compiled for.
func builtInFeatures(t *testing.T) cpuvariant.Features {
	t.Helper()
	r := runCPUChild(t, t.TempDir(), "real", "", "")
	if len(r.Devices) != 1 {
		t.Fatalf("without variants: %d CPU devices, want the built-in one", len(r.Devices))
	}
	return cpuvariant.Of(strings.Split(r.Devices[0], ",")...)
}

func requireAMD64(t *testing.T) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("the variant libraries built here are x86-64 ones")
	}
}

func TestCPUKernelsBestForThisCPU(t *testing.T) {
	requireAMD64(t)
	dir := variantLibraries(t)
	real, err := cpuvariant.Detect()
	if err != nil {
		t.Fatal(err)
	}
	want := expectedVariant(t, dir, real)
	// Q4_0, so the variant repacks the weights for its kernels (and logs
	// each tensor it repacks at debug level).
	model := filepath.Join(t.TempDir(), "demo-q4_0.gguf")
	spec := testmodel.Demo()
	spec.Type = gguf.TypeQ4_0
	if _, _, err := testmodel.WriteFile(model, spec); err != nil {
		t.Fatal(err)
	}
	got := runCPUChild(t, dir, "real", "", model)
	t.Logf("this CPU: %s; chose %s (%s)", real, got.Variant, got.Note)
	if got.Variant != want.Variant {
		t.Fatalf("chose %s, want %s", got.Variant, want.Variant)
	}
	if len(got.Devices) != 1 {
		t.Fatalf("%d CPU devices after choosing, want exactly one (llama.cpp uses the first)", len(got.Devices))
	}
	if missing := cpuvariant.Of(strings.Split(got.Devices[0], ",")...).Lacks(want.Requires); len(missing) > 0 {
		t.Fatalf("the CPU device's kernels lack %v: the variant is not the one running", missing)
	}
	if got.GenError != "" || got.Text == "" {
		t.Fatalf("generation with %s: %q, %s", got.Variant, got.Text, got.GenError)
	}
	// The library's ggml logs through the binary's level filter: its
	// debug messages (one per repacked tensor) stay out of the output.
	if strings.Contains(got.Output, "repack tensor") {
		t.Fatalf("the variant's debug messages bypass the log level:\n%.600s", got.Output)
	}
}

// The same greedy continuation from the built-in kernels and from the
// variant: a variant wired to the wrong buffers or a second copy of ggml's
// state would produce other text, or none.
func TestCPUKernelsVariantAgreesWithBuiltIn(t *testing.T) {
	requireAMD64(t)
	dir := variantLibraries(t)
	model := trainedModel(t)
	builtin := runCPUChild(t, dir, "real", cpuvariant.BuiltIn, model)
	best := runCPUChild(t, dir, "real", "", model)
	if builtin.Variant != cpuvariant.BuiltIn || best.GenError != "" || builtin.GenError != "" {
		t.Fatalf("built-in %+v\nbest %+v", builtin, best)
	}
	if best.Variant == cpuvariant.BuiltIn {
		t.Skipf("no variant beats the built-in kernels on this CPU (%s)", best.Note)
	}
	t.Logf("%s and built-in kernels both continue with %q", best.Variant, best.Text)
	if best.Text != builtin.Text || best.Text == "" {
		t.Fatalf("greedy text differs:\n built-in:  %q\n %s: %q", builtin.Text, best.Variant, best.Text)
	}
}

// An AVX2-only CPU (simulated by hiding the other features) never gets an
// AVX-512 or AMX variant, though the libraries are there: it would die of an
// illegal instruction.
func TestCPUKernelsNeverBeyondTheCPU(t *testing.T) {
	requireAMD64(t)
	dir := variantLibraries(t)
	for _, tc := range []struct{ cpu, features string }{
		{"haswell", "AVX,AVX2,F16C,FMA,BMI2"},
		{"alder lake", "AVX,AVX2,F16C,FMA,BMI2,AVX_VNNI"},
		{"zen 4", "AVX,AVX2,F16C,FMA,BMI2,AVX512,AVX512_VBMI,AVX512_VNNI,AVX512_BF16"},
	} {
		t.Run(tc.cpu, func(t *testing.T) {
			got := runCPUChild(t, dir, tc.features, "", "")
			cpu := cpuvariant.Of(strings.Split(tc.features, ",")...)
			if got.Variant != cpuvariant.BuiltIn {
				v := cpuvariant.Variants("amd64")[slices.IndexFunc(cpuvariant.Variants("amd64"),
					func(v cpuvariant.Variant) bool { return v.Name == got.Variant })]
				if missing := cpu.Lacks(v.Requires); len(missing) > 0 {
					t.Fatalf("a %s CPU got %s, which needs %v", tc.cpu, got.Variant, missing)
				}
			}
			for _, d := range got.Devices {
				if f := cpuvariant.Of(strings.Split(d, ",")...); f["AVX512"] && !cpu["AVX512"] || f["AMX_INT8"] {
					t.Fatalf("a %s CPU runs kernels compiled for %s", tc.cpu, d)
				}
			}
			if reason := got.Skipped["sapphirerapids"]; !strings.Contains(reason, "lacks") {
				t.Errorf("sapphirerapids skipped for %q, want the missing features named", reason)
			}
			// And forcing does not get around it.
			forced := runCPUChild(t, dir, tc.features, "sapphirerapids", "")
			if !strings.Contains(forced.Err, "this CPU lacks") || forced.Variant != cpuvariant.BuiltIn || len(forced.Devices) != 1 {
				t.Fatalf("forcing sapphirerapids on a %s CPU: %+v", tc.cpu, forced)
			}
		})
	}
}

// A variant library that fails to load is skipped with the loader's
// message, and the next best one runs; with none left, the built-in kernels
// run and say why.
func TestCPUKernelsBrokenLibraryFallsBack(t *testing.T) {
	requireAMD64(t)
	dir := variantLibraries(t)
	real, err := cpuvariant.Detect()
	if err != nil {
		t.Fatal(err)
	}
	best := expectedVariant(t, dir, real)
	if best.Variant == cpuvariant.BuiltIn {
		t.Skip("no variant beats the built-in kernels on this CPU")
	}
	broken := copyLibraries(t, dir)
	if err := os.WriteFile(filepath.Join(broken, cpuvariant.LibraryName(best.Variant)), []byte("not an ELF file\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	got := runCPUChild(t, broken, "real", "", "")
	t.Logf("with %s broken: chose %s; %s skipped: %s", best.Variant, got.Variant, best.Variant, got.Skipped[best.Variant])
	if !strings.Contains(got.Skipped[best.Variant], "cannot be loaded") {
		t.Fatalf("broken %s skipped as %q", best.Variant, got.Skipped[best.Variant])
	}
	if got.Variant == best.Variant || len(got.Devices) != 1 {
		t.Fatalf("after a broken %s: %+v", best.Variant, got)
	}

	// Forced to the broken one: an error, and the built-in kernels remain.
	forced := runCPUChild(t, broken, "real", best.Variant, "")
	if !strings.Contains(forced.Err, "cannot be loaded") || forced.Variant != cpuvariant.BuiltIn || len(forced.Devices) != 1 {
		t.Fatalf("forced broken %s: %+v", best.Variant, forced)
	}

	// A library whose kernels do not match its name is refused: icelake's
	// code under the sapphirerapids name would be trusted for AMX.
	misnamed := copyLibraries(t, dir, "sapphirerapids")
	src, err := os.ReadFile(filepath.Join(dir, cpuvariant.LibraryName("icelake")))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(misnamed, cpuvariant.LibraryName("sapphirerapids")), src, 0o755); err != nil {
		t.Fatal(err)
	}
	if real["AMX_INT8"] {
		got := runCPUChild(t, misnamed, "real", "sapphirerapids", "")
		if !strings.Contains(got.Err, "not compiled for") || !strings.Contains(got.Err, "AMX_INT8") {
			t.Fatalf("misnamed library: %+v", got)
		}
	}

	none := runCPUChild(t, t.TempDir(), "real", "", "")
	if none.Variant != cpuvariant.BuiltIn || !strings.Contains(none.Note, "no CPU variant libraries") {
		t.Fatalf("no libraries: %+v", none)
	}
}

func TestCPUKernelsForced(t *testing.T) {
	requireAMD64(t)
	dir := variantLibraries(t)
	got := runCPUChild(t, dir, "real", cpuvariant.BuiltIn, "")
	if got.Variant != cpuvariant.BuiltIn || got.Err != "" || len(got.Devices) != 1 {
		t.Fatalf("forced built-in: %+v", got)
	}
	got = runCPUChild(t, dir, "real", "haswell", "")
	if got.Variant != "haswell" || len(got.Devices) != 1 {
		t.Fatalf("forced haswell: %+v", got)
	}
	got = runCPUChild(t, copyLibraries(t, dir, "haswell"), "real", "haswell", "")
	if !strings.Contains(got.Err, "no libggml-cpu-haswell.so") {
		t.Fatalf("forced missing haswell: %+v", got)
	}
}
