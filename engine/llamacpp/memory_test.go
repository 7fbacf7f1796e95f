package llamacpp

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-llm/warden/engine/fit"
	"github.com/warden-llm/warden/engine/gguf"
	"github.com/warden-llm/warden/models/testmodel"
)

// sharedModel is the path of one of the tiny real models in
// /work/shared/models (or $WARDEN_TEST_MODELS); the test skips without it.
func sharedModel(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("WARDEN_TEST_MODELS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "models")
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("shared test model %s not found (set WARDEN_TEST_MODELS): %v", name, err)
	}
	return path
}

// tinyLlama is a TinyLlama-1.1B-shape Q4_0 model: build/tinyllama-q4_0.gguf
// if `warden testmodel --preset tinyllama` wrote it, else a fresh one.
func tinyLlama(t *testing.T) string {
	t.Helper()
	want := testmodel.TinyLlama()
	built := filepath.Join("..", "..", "build", "tinyllama-q4_0.gguf")
	if f, err := gguf.Open(built); err == nil {
		if name, _ := f.String("general.name"); name == want.Name {
			return built
		}
	}
	path := filepath.Join(t.TempDir(), "tinyllama.gguf")
	if _, _, err := testmodel.WriteFile(path, want); err != nil {
		t.Skipf("cannot write the TinyLlama-shape model: %v", err)
	}
	return path
}

// The tolerances the estimate promises against llama.cpp's own buffer
// reports on the CPU (docs/memory-fit.md):
//   - weights and KV cache within 1 %, beyond the 0.01 MiB llama.cpp prints;
//   - compute buffers from 10 % under to 60 % over: the estimate is a
//     formula over the graph's largest tensors, kept on the safe side;
//   - the whole within 5 % for the TinyLlama-shape model, where the
//     weights dominate as in any real model.
const (
	exactTolerance = 0.01
	printRounding  = 0.01 * (1 << 20) // llama.cpp prints MiB with 2 decimals
	computeUnder   = 0.10
	computeOver    = 0.60
	totalTolerance = 0.05
)

func TestEstimateMatchesAllocation(t *testing.T) {
	for _, c := range []struct {
		model string
		cfg   Config
		total bool // check the total too
	}{
		{"stories260K.gguf", Config{Context: 512, Parallel: 2}, false},
		{"llama-2-tiny-random.gguf", Config{Context: 512}, false},
		{"TinyStories-656K-Q8_0.gguf", Config{Context: 512}, false},
		{"demo", Config{Context: 1024, Parallel: 3, KVType: "q8_0"}, false},
		{"tinyllama", Config{Context: 2048}, true},
		{"tinyllama", Config{Context: 512, Parallel: 4, Batch: 128, KVType: "q4_0"}, true},
	} {
		t.Run(c.model, func(t *testing.T) {
			cfg := c.cfg
			switch c.model {
			case "tinyllama":
				cfg.Path = tinyLlama(t)
			case "demo":
				cfg.Path = filepath.Join(t.TempDir(), "demo.gguf")
				if _, _, err := testmodel.WriteFile(cfg.Path, testmodel.Demo()); err != nil {
					t.Fatal(err)
				}
			default:
				cfg.Path = sharedModel(t, c.model)
			}
			cfg.Threads = 2
			cfg.GPULayers = 0
			m, err := Load(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			est := estimateFor(t, m)
			mem := m.Memory()
			t.Logf("%s ctx %d×%d batch %d %s: buffers %+v", c.model, m.cfg.Context, m.cfg.Parallel, m.cfg.Batch, est.Options.KVType, mem.Buffers)

			within(t, "weights", est.Weights(), mem.Sum("model"), exactTolerance, exactTolerance)
			within(t, "KV cache", est.KV(), mem.Sum("KV"), exactTolerance, exactTolerance)
			within(t, "compute", est.Compute+est.HostOutput, mem.Sum("compute", "output"), computeUnder, computeOver)
			if c.total {
				within(t, "total", est.CPUTotal(), mem.Sum("model", "KV", "compute", "output"), totalTolerance, totalTolerance)
			}
		})
	}
}

func estimateFor(t *testing.T, m *Model) *fit.Model {
	t.Helper()
	f, err := gguf.Open(m.cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	est, err := fit.Estimate(f, fit.Options{Context: m.cfg.Context, Parallel: m.cfg.Parallel, Batch: m.cfg.Batch, KVType: m.cfg.KVType})
	if err != nil {
		t.Fatal(err)
	}
	return est
}

// within fails unless estimate lies between actual less under and actual
// plus over (fractions), widened by llama.cpp's print rounding.
func within(t *testing.T, what string, estimate, actual uint64, under, over float64) {
	t.Helper()
	if actual == 0 {
		t.Errorf("%s: llama.cpp reported no such buffer", what)
		return
	}
	lo := float64(actual)*(1-under) - printRounding
	hi := float64(actual)*(1+over) + printRounding
	diff := 100 * (float64(estimate)/float64(actual) - 1)
	t.Logf("%-8s estimate %12d, allocated %12d (%+.1f %%)", what, estimate, actual, diff)
	if float64(estimate) < lo || float64(estimate) > hi {
		t.Errorf("%s: estimate %s is %+.1f %% off the allocated %s, outside -%.0f %% to +%.0f %%",
			what, fit.FormatBytes(estimate), diff, fit.FormatBytes(actual), 100*under, 100*over)
	}
}

// A quantized V cache needs flash attention, which llama.cpp's kernels
// lack for TinyStories' 16-wide heads: the refusal must say so.
func TestQuantizedKVCacheNeedsFlashAttention(t *testing.T) {
	_, err := Load(context.Background(), Config{Path: sharedModel(t, "TinyStories-656K-Q8_0.gguf"), Context: 512, KVType: "q8_0"})
	if err == nil || !strings.Contains(err.Error(), "flash attention") {
		t.Fatalf("err %v, want a refusal that mentions flash attention", err)
	}
}

func TestLoadRefusesUnknownKVType(t *testing.T) {
	_, err := Load(context.Background(), Config{Path: sharedModel(t, "stories260K.gguf"), KVType: "q5_1"})
	if err == nil || !strings.Contains(err.Error(), "q5_1") {
		t.Fatalf("err %v, want a refusal naming q5_1", err)
	}
}

func TestParseBuffers(t *testing.T) {
	log := `print_info: n_vocab          = 32000
load_tensors:   CPU_Mapped model buffer size =   590.41 MiB
llama_context:  CUDA_Host  output buffer size =     0.13 MiB
llama_kv_cache:      CUDA0 KV buffer size =    44.00 MiB
llama_kv_cache: size =   44.00 MiB (  2048 cells,  22 layers,  1/1 seqs), K (f16):   22.00 MiB, V (f16):   22.00 MiB
llama_context:      CUDA0 compute buffer size =    66.50 MiB
llama_context:  CUDA_Host compute buffer size = bogus MiB
`
	got := parseBuffers(log).Buffers
	mib := func(x float64) uint64 { return uint64(x * (1 << 20)) }
	want := []Buffer{
		{"CPU_Mapped", "model", mib(590.41)},
		{"CUDA_Host", "output", mib(0.13)},
		{"CUDA0", "KV", mib(44)},
		{"CUDA0", "compute", mib(66.5)},
	}
	if len(got) != len(want) {
		t.Fatalf("parsed %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("buffer %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if s := (Memory{Buffers: got}).Sum("KV", "compute"); s != want[2].Bytes+want[3].Bytes {
		t.Errorf("Sum = %d", s)
	}
}

func TestDevicesIncludeTheCPU(t *testing.T) {
	devices := Devices()
	cpus := 0
	for _, d := range devices {
		t.Logf("%s (%s): %s, %d of %d bytes free", d.Name, d.Description, d.Type, d.Free, d.Total)
		if d.Type == DeviceCPU {
			cpus++
			if d.Total == 0 {
				t.Errorf("CPU device reports %d bytes", d.Total)
			}
		}
	}
	if cpus != 1 {
		t.Errorf("%d CPU devices, want 1", cpus)
	}
}
