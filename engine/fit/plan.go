package fit

import (
	"fmt"
	"strings"
)

// Device is memory a plan can place layers in: system RAM (the CPU) or a
// GPU's memory.
type Device struct {
	Name  string // ggml's name, e.g. "CPU", "CUDA0", "Metal"
	GPU   bool
	Total uint64
	Free  uint64
	// Overhead is memory the device's backend takes beyond llama.cpp's
	// buffers: for a GPU, the driver context, library workspaces and
	// kernels. DefaultGPUOverhead is a fair value for CUDA.
	Overhead uint64
}

// DefaultGPUOverhead is what a CUDA device uses beyond llama.cpp's own
// buffers: context, cuBLAS workspace and loaded kernels. Ollama reserves
// 457 MiB for the same (ml.DeviceInfo.MinimumMemory); this rounds up.
const DefaultGPUOverhead = 512 * MiB

// PlanOptions tune a plan.
type PlanOptions struct {
	Margin Margin
	// GPULayers forces the number of layers to offload, counted as
	// llama.cpp's n_gpu_layers counts them: the last repeating layers first,
	// then the output layer. Negative: as many as fit.
	GPULayers int
	// RequireFullGPU refuses any plan that leaves a layer on the CPU.
	RequireFullGPU bool
}

// Mode says where a plan runs the model.
type Mode string

// The modes of a plan.
const (
	ModeFull    Mode = "full"    // every layer on GPUs
	ModePartial Mode = "partial" // some layers on GPUs, the rest on the CPU
	ModeCPU     Mode = "cpu"     // every layer on the CPU
)

// Usage is what a plan puts on one device.
type Usage struct {
	Device  Device
	Layers  int  // repeating layers placed here
	Output  bool // the output layer is placed here
	Weights uint64
	KV      uint64
	Compute uint64 // compute buffers, plus the logits buffer on the CPU
	// Available is the device's free memory less the margin and the
	// backend's overhead.
	Available uint64
}

// Need is the memory the plan asks of the device.
func (u Usage) Need() uint64 { return u.Weights + u.KV + u.Compute }

// Shortfall is how much more memory the device would need; 0 if it fits.
func (u Usage) Shortfall() uint64 { return u.Need() - min(u.Need(), u.Available) }

// Placement is a plan: how many layers to offload and what each device then
// holds.
type Placement struct {
	Mode Mode
	// GPULayers is the value for engine/llamacpp.Config.GPULayers.
	GPULayers int
	// Layers is the number of offloadable layers: the repeating ones plus
	// the output layer.
	Layers int
	Margin Margin
	Usage  []Usage // the CPU first, then the GPUs in inventory order
}

// Plan places the model e describes on devices, which must include exactly
// one CPU. It offloads every layer if the GPUs hold them all, else the most
// that fit, leaving the rest on the CPU, and splits offloaded layers between
// GPUs in proportion to their free memory, as llama.cpp does when no tensor
// split is given. It fails with a *FitError, along with the placement it
// tried, when the model cannot run: not even in system RAM, not with the
// layers opts.GPULayers forces, or not entirely on GPUs when
// opts.RequireFullGPU asks for it.
func Plan(e *Model, devices []Device, opts PlanOptions) (*Placement, error) {
	cpu, gpus, err := splitDevices(devices)
	if err != nil {
		return nil, err
	}
	layers := len(e.Blocks) + 1
	var p *Placement
	if opts.GPULayers >= 0 {
		p = e.place(opts.GPULayers, cpu, gpus, opts.Margin)
		if short := p.short(true); len(short) > 0 {
			return p, newFitError(e, p, short, fmt.Sprintf("%d offloaded layers do not fit", p.GPULayers))
		}
	} else {
		for n := layers; n >= 0; n-- {
			if p = e.place(n, cpu, gpus, opts.Margin); len(p.short(true)) == 0 {
				break
			}
		}
	}
	if opts.RequireFullGPU && p.Mode != ModeFull {
		if len(gpus) == 0 {
			return p, &FitError{Placement: p, Reason: "full GPU offload was required but there is no GPU"}
		}
		full := e.place(layers, cpu, gpus, opts.Margin)
		return p, newFitError(e, full, full.short(true), "full GPU offload was required")
	}
	if short := p.short(false); len(short) > 0 {
		return p, newFitError(e, p, short, "system RAM cannot hold what stays on the CPU")
	}
	return p, nil
}

func splitDevices(devices []Device) (cpu Device, gpus []Device, err error) {
	cpus := 0
	for _, d := range devices {
		if d.GPU {
			gpus = append(gpus, d)
			continue
		}
		cpu = d
		cpus++
	}
	if cpus != 1 {
		return Device{}, nil, fmt.Errorf("plan: the inventory has %d CPU devices, want 1", cpus)
	}
	return cpu, gpus, nil
}

// place puts the last n offloadable layers on the GPUs, as llama.cpp does
// for n_gpu_layers = n (llama_model::load_tensors).
func (e *Model) place(n int, cpu Device, gpus []Device, margin Margin) *Placement {
	blocks := len(e.Blocks)
	if len(gpus) == 0 {
		n = 0
	}
	n = min(max(n, 0), blocks+1)
	p := &Placement{GPULayers: n, Layers: blocks + 1, Margin: margin, Usage: make([]Usage, 1+len(gpus))}
	for i, d := range append([]Device{cpu}, gpus...) {
		p.Usage[i] = Usage{Device: d, Available: available(d, margin)}
	}
	splits := splitPoints(gpus)
	start := max(blocks-n, 0)
	where := func(layer int) *Usage {
		if layer < start || layer-start >= n {
			return &p.Usage[0]
		}
		return &p.Usage[1+upperBound(splits, float64(layer-start)/float64(n))]
	}
	p.Usage[0].Weights += e.Input
	p.Usage[0].Compute += e.HostOutput
	for i, b := range e.Blocks {
		u := where(i)
		u.Layers++
		u.Weights += b.Weights
		u.KV += b.KV
	}
	out := where(blocks)
	out.Output = true
	out.Weights += e.Output
	if out.Device.GPU {
		out.Weights += e.TiedOutput
	}
	e.placeCompute(p, out)
	return p
}

// placeCompute adds the compute buffers. The device running the output
// layer holds the logits. With a partial offload llama.cpp still runs the
// output projection on the first GPU, copying its weights there.
func (e *Model) placeCompute(p *Placement, out *Usage) {
	cpu := &p.Usage[0]
	switch {
	case p.GPULayers == 0:
		p.Mode = ModeCPU
		cpu.Compute += e.Compute
		return
	case p.GPULayers == p.Layers:
		p.Mode = ModeFull
		cpu.Compute += e.HostCompute
		out.Compute += e.Compute
	default:
		p.Mode = ModePartial
		cpu.Compute += e.Compute
		p.Usage[1].Compute += e.Compute + e.OffloadCopy
	}
	for i := 1; i < len(p.Usage); i++ {
		if u := &p.Usage[i]; u.Compute == 0 && u.Layers > 0 {
			u.Compute = e.LayerCompute
		}
	}
}

// splitPoints returns the cumulative fractions of the GPUs' free memory:
// layer fraction f goes to the first GPU whose point exceeds f.
func splitPoints(gpus []Device) []float64 {
	points := make([]float64, len(gpus))
	var sum float64
	for i, g := range gpus {
		sum += float64(g.Free)
		points[i] = sum
	}
	for i := range points {
		if sum > 0 {
			points[i] /= sum
		} else {
			points[i] = float64(i+1) / float64(len(points))
		}
	}
	return points
}

// upperBound returns the index of the first point above f; fractions are
// below 1, the last point, so the fallback only guards rounding.
func upperBound(points []float64, f float64) int {
	for i, x := range points {
		if x > f {
			return i
		}
	}
	return len(points) - 1
}

func available(d Device, margin Margin) uint64 {
	reserved := margin.of(d.Total) + d.Overhead
	return d.Free - min(d.Free, reserved)
}

// short returns the devices that cannot hold their share: the GPUs, or
// else the CPU.
func (p *Placement) short(gpus bool) []Usage {
	var out []Usage
	for _, u := range p.Usage {
		if u.Device.GPU == gpus && u.Shortfall() > 0 {
			out = append(out, u)
		}
	}
	return out
}

// FitError is a refusal to load: the model does not fit where it must.
type FitError struct {
	Placement *Placement // the placement that does not fit
	Reason    string
	Short     []Usage // the devices without enough memory
	KV        uint64  // the KV cache's size, to show what quantizing it would save
	KVType    CacheType
}

func newFitError(e *Model, p *Placement, short []Usage, reason string) *FitError {
	return &FitError{Placement: p, Reason: reason, Short: short, KV: e.KV(), KVType: e.Options.KVType}
}

// Shortfall is the memory missing on all short devices together.
func (e *FitError) Shortfall() uint64 {
	var n uint64
	for _, u := range e.Short {
		n += u.Shortfall()
	}
	return n
}

func (e *FitError) Error() string {
	if len(e.Short) == 0 {
		return "model does not fit: " + e.Reason
	}
	var where []string
	for _, u := range e.Short {
		where = append(where, fmt.Sprintf("%s needs %.2f GiB more (%s needed, %s available)",
			u.Device.Name, gib(u.Shortfall()), FormatBytes(u.Need()), FormatBytes(u.Available)))
	}
	options := "a smaller quantization of the model, a shorter context, fewer parallel sequences"
	switch e.KVType {
	case CacheF16:
		options += fmt.Sprintf(", or a quantized KV cache (the %s f16 cache halves at q8_0, quarters at q4_0)", FormatBytes(e.KV))
	case CacheQ8_0:
		options += fmt.Sprintf(", or a q4_0 KV cache (half the %s q8_0 cache)", FormatBytes(e.KV))
	}
	return fmt.Sprintf("model does not fit, %.2f GiB short: %s: %s; options: %s",
		gib(e.Shortfall()), e.Reason, strings.Join(where, "; "), options)
}

func gib(n uint64) float64 { return float64(n) / float64(GiB) }
