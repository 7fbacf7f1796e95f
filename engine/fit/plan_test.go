package fit

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func cpuDevice(free uint64) Device {
	return Device{Name: "CPU", Total: 64 * GiB, Free: free}
}

func gpuDevice(name string, free uint64) Device {
	return Device{Name: name, GPU: true, Total: free, Free: free, Overhead: DefaultGPUOverhead}
}

// llama7B is Llama-2-7B at Q4_0 with one 2,048-token sequence: about
// 3.8 GB of weights and 1 GiB of KV cache.
func llama7B(t *testing.T) *Model {
	t.Helper()
	m, err := Estimate(llama2_7B.file(t, quantQ4_0), Options{Context: 2048})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustPlan(t *testing.T, m *Model, devices []Device, opts PlanOptions) *Placement {
	t.Helper()
	p, err := Plan(m, devices, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkConserved(t, m, p)
	return p
}

// checkConserved fails unless every layer and every weight is placed once.
func checkConserved(t *testing.T, m *Model, p *Placement) {
	t.Helper()
	var layers, outputs int
	var weights, kv uint64
	for _, u := range p.Usage {
		layers += u.Layers
		weights += u.Weights
		kv += u.KV
		if u.Output {
			outputs++
		}
	}
	tied := uint64(0)
	if p.Mode == ModeFull {
		tied = m.TiedOutput
	}
	if layers != len(m.Blocks) || outputs != 1 || weights != m.Weights()+tied || kv != m.KV() {
		t.Errorf("placed %d layers, %d outputs, %d weight bytes, %d KV bytes; want %d, 1, %d, %d",
			layers, outputs, weights, kv, len(m.Blocks), m.Weights()+tied, m.KV())
	}
}

func TestFullOffload(t *testing.T) {
	m := llama7B(t)
	p := mustPlan(t, m, []Device{cpuDevice(32 * GiB), gpuDevice("CUDA0", 24*GiB)}, PlanOptions{GPULayers: -1, Margin: DefaultMargin()})
	if p.Mode != ModeFull || p.GPULayers != 33 || p.Layers != 33 {
		t.Fatalf("mode %s with %d of %d layers, want full with 33 of 33", p.Mode, p.GPULayers, p.Layers)
	}
	cpu, gpu := p.Usage[0], p.Usage[1]
	if gpu.Layers != 32 || !gpu.Output || cpu.Layers != 0 || cpu.Weights != m.Input {
		t.Errorf("GPU has %d layers (output %v), CPU %d layers and %d weight bytes; want 32 (true), 0 and the input layer's %d",
			gpu.Layers, gpu.Output, cpu.Layers, cpu.Weights, m.Input)
	}
	if gpu.KV != m.KV() || gpu.Compute != m.Compute {
		t.Errorf("GPU KV %d and compute %d, want %d and %d", gpu.KV, gpu.Compute, m.KV(), m.Compute)
	}
}

func TestPartialOffloadTakesTheMostLayersThatFit(t *testing.T) {
	m := llama7B(t)
	cpu, gpu := cpuDevice(32*GiB), gpuDevice("CUDA0", 4*GiB)
	p := mustPlan(t, m, []Device{cpu, gpu}, PlanOptions{GPULayers: -1})
	if p.Mode != ModePartial || p.GPULayers < 1 || p.GPULayers >= p.Layers {
		t.Fatalf("mode %s with %d of %d layers, want a partial offload", p.Mode, p.GPULayers, p.Layers)
	}
	g := p.Usage[1]
	if g.Need() > g.Available || g.Layers != p.GPULayers || g.Output {
		t.Errorf("GPU needs %d of %d available with %d layers (output %v); want it to fit the %d offloaded layers without the output",
			g.Need(), g.Available, g.Layers, g.Output, p.GPULayers)
	}
	if g.Available != 4*GiB-DefaultGPUOverhead {
		t.Errorf("available %d, want free less the overhead %d", g.Available, 4*GiB-DefaultGPUOverhead)
	}
	// One more layer would not fit: the plan is the largest.
	more, err := Plan(m, []Device{cpu, gpu}, PlanOptions{GPULayers: p.GPULayers + 1})
	var fe *FitError
	if !errors.As(err, &fe) || len(fe.Short) != 1 || fe.Short[0].Device.Name != "CUDA0" {
		t.Fatalf("%d layers: err %v, want CUDA0 short", p.GPULayers+1, err)
	}
	if more.Usage[1].Layers != p.GPULayers+1 {
		t.Errorf("forced plan has %d layers on the GPU, want %d", more.Usage[1].Layers, p.GPULayers+1)
	}
}

func TestMultiGPUSplitFollowsFreeMemory(t *testing.T) {
	m, err := Estimate(llama2_13B.file(t, quantQ4_K_M), Options{Context: 2048})
	if err != nil {
		t.Fatal(err)
	}
	devices := []Device{cpuDevice(32 * GiB), gpuDevice("CUDA0", 12*GiB), gpuDevice("CUDA1", 6*GiB)}
	p := mustPlan(t, m, devices, PlanOptions{GPULayers: -1})
	if p.Mode != ModeFull {
		t.Fatalf("mode %s, want full on 18 GiB for a 9.6 GB model", p.Mode)
	}
	a, b := p.Usage[1], p.Usage[2]
	// 41 offloadable layers, two thirds to the GPU with twice the memory;
	// the output layer, last, lands on the second GPU.
	if a.Layers+b.Layers != 40 || a.Output || !b.Output {
		t.Fatalf("split %d + %d layers, output on CUDA1 %v", a.Layers, b.Layers, b.Output)
	}
	if share := float64(a.Layers) / 41; math.Abs(share-2.0/3) > 1.0/41 {
		t.Errorf("CUDA0 holds %d of 41 layers (%.2f), want about two thirds", a.Layers, share)
	}
	if b.Compute != m.Compute || a.Compute != m.LayerCompute {
		t.Errorf("compute %d on CUDA0 and %d on CUDA1, want %d (layers only) and %d (with the output)",
			a.Compute, b.Compute, m.LayerCompute, m.Compute)
	}
	if a.KV+b.KV != m.KV() || a.KV <= b.KV {
		t.Errorf("KV %d + %d, want %d split with the larger part on CUDA0", a.KV, b.KV, m.KV())
	}
}

func TestCPUOnly(t *testing.T) {
	m := llama7B(t)
	p := mustPlan(t, m, []Device{cpuDevice(32 * GiB)}, PlanOptions{GPULayers: -1})
	if p.Mode != ModeCPU || p.GPULayers != 0 || len(p.Usage) != 1 {
		t.Fatalf("mode %s with %d layers offloaded on %d devices", p.Mode, p.GPULayers, len(p.Usage))
	}
	if got := p.Usage[0].Need(); got != m.CPUTotal() {
		t.Errorf("CPU needs %d, want %d", got, m.CPUTotal())
	}
}

func TestRefusalWhenRAMIsTooSmall(t *testing.T) {
	m := llama7B(t)
	cpu := cpuDevice(3 * GiB)
	_, err := Plan(m, []Device{cpu}, PlanOptions{GPULayers: -1, Margin: Margin{Bytes: 256 * MiB}})
	var fe *FitError
	if !errors.As(err, &fe) {
		t.Fatalf("err %v, want a *FitError", err)
	}
	want := m.CPUTotal() - (3*GiB - 256*MiB)
	if fe.Shortfall() != want {
		t.Errorf("shortfall %d, want %d", fe.Shortfall(), want)
	}
	msg := err.Error()
	for _, s := range []string{
		fmt.Sprintf("%.2f GiB short", float64(want)/float64(GiB)),
		"system RAM", "CPU needs", "smaller quantization", "shorter context", "fewer parallel sequences", "quantized KV cache",
	} {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q lacks %q", msg, s)
		}
	}
}

func TestRequireFullGPU(t *testing.T) {
	m := llama7B(t)
	devices := []Device{cpuDevice(32 * GiB), gpuDevice("CUDA0", 4*GiB)}
	p, err := Plan(m, devices, PlanOptions{GPULayers: -1, RequireFullGPU: true})
	var fe *FitError
	if !errors.As(err, &fe) || p == nil || p.Mode != ModePartial {
		t.Fatalf("err %v, plan %+v; want a refusal alongside the partial plan", err, p)
	}
	full, _ := Plan(m, []Device{cpuDevice(32 * GiB), gpuDevice("CUDA0", 64*GiB)}, PlanOptions{GPULayers: -1})
	want := full.Usage[1].Need() - (4*GiB - DefaultGPUOverhead)
	if fe.Shortfall() != want || !strings.Contains(err.Error(), "full GPU offload was required") {
		t.Errorf("shortfall %d, want %d; error %q", fe.Shortfall(), want, err)
	}

	_, err = Plan(m, []Device{cpuDevice(32 * GiB)}, PlanOptions{GPULayers: -1, RequireFullGPU: true})
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "no GPU") {
		t.Errorf("without a GPU: err %v, want a refusal naming the missing GPU", err)
	}
}

func TestUserLayerOverride(t *testing.T) {
	m := llama7B(t)
	devices := []Device{cpuDevice(32 * GiB), gpuDevice("CUDA0", 24*GiB)}
	p := mustPlan(t, m, devices, PlanOptions{GPULayers: 10})
	if p.Mode != ModePartial || p.GPULayers != 10 || p.Usage[1].Layers != 10 || p.Usage[0].Layers != 22 {
		t.Errorf("mode %s, %d layers offloaded, %d on the GPU, %d on the CPU; want partial 10, 10, 22",
			p.Mode, p.GPULayers, p.Usage[1].Layers, p.Usage[0].Layers)
	}
	if p := mustPlan(t, m, devices, PlanOptions{GPULayers: 1000}); p.GPULayers != 33 || p.Mode != ModeFull {
		t.Errorf("1000 layers: %d offloaded in mode %s, want all 33", p.GPULayers, p.Mode)
	}
}

func TestMarginIsHonoured(t *testing.T) {
	m := llama7B(t)
	full := mustPlan(t, m, []Device{cpuDevice(32 * GiB), gpuDevice("CUDA0", 64*GiB)}, PlanOptions{GPULayers: -1})
	exact := full.Usage[1].Need() + DefaultGPUOverhead
	devices := []Device{cpuDevice(32 * GiB), gpuDevice("CUDA0", exact)}
	if p := mustPlan(t, m, devices, PlanOptions{GPULayers: -1}); p.Mode != ModeFull {
		t.Errorf("without a margin: mode %s on a GPU with exactly enough memory, want full", p.Mode)
	}
	for _, margin := range []Margin{{Fraction: 0.01}, {Bytes: 1}} {
		if p := mustPlan(t, m, devices, PlanOptions{GPULayers: -1, Margin: margin}); p.Mode != ModePartial {
			t.Errorf("margin %v: mode %s, want partial", margin, p.Mode)
		}
	}
}

func TestQuantizedKVCacheFitsWhereF16DoesNot(t *testing.T) {
	f := llama2_7B.file(t, quantQ4_0)
	devices := []Device{cpuDevice(32 * GiB), gpuDevice("CUDA0", 6*GiB)}
	for _, c := range []struct {
		kv   CacheType
		mode Mode
	}{{CacheF16, ModePartial}, {CacheQ8_0, ModeFull}, {CacheQ4_0, ModeFull}} {
		m, err := Estimate(f, Options{Context: 4096, KVType: c.kv})
		if err != nil {
			t.Fatal(err)
		}
		if p := mustPlan(t, m, devices, PlanOptions{GPULayers: -1}); p.Mode != c.mode {
			t.Errorf("%s cache: mode %s, want %s", c.kv, p.Mode, c.mode)
		}
	}
}

func TestInventoryNeedsOneCPU(t *testing.T) {
	m := llama7B(t)
	for _, devices := range [][]Device{
		{gpuDevice("CUDA0", 24*GiB)},
		{cpuDevice(GiB), cpuDevice(GiB)},
	} {
		if _, err := Plan(m, devices, PlanOptions{GPULayers: -1}); err == nil {
			t.Errorf("%d devices, %d GPUs: no error", len(devices), len(devices)-1)
		}
	}
}
