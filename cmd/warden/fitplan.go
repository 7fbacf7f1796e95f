package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/warden-llm/warden/engine/fit"
	"github.com/warden-llm/warden/engine/gguf"
	"github.com/warden-llm/warden/engine/llamacpp"
)

// planRequest is what a memory plan needs: the model, the serving
// parameters that size its buffers, and the devices to place it on.
type planRequest struct {
	path      string
	model     fit.Options
	gpuLayers int // negative: as many as fit
	margin    fit.Margin
	fullGPU   bool
	devices   []fit.Device
}

// makePlan estimates the model's memory from its header and places it. On
// a refusal it returns the placement it tried along with the *fit.FitError.
func makePlan(req planRequest) (*fit.Model, *fit.Placement, error) {
	f, err := gguf.OpenModel(req.path)
	if err != nil {
		return nil, nil, err
	}
	est, err := fit.Estimate(f, req.model)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", req.path, err)
	}
	p, err := fit.Plan(est, req.devices, fit.PlanOptions{Margin: req.margin, GPULayers: req.gpuLayers, RequireFullGPU: req.fullGPU})
	return est, p, err
}

// serveFit are serve's settings that shape its memory plan.
type serveFit struct {
	ctx, parallel, batch int
	gpuLayers            int // negative: as many as fit
	kvType               fit.CacheType
	fullGPU              bool
}

// planServe runs serve's plan before anything loads: it logs the plan and
// returns the number of layers to offload, or the refusal.
func planServe(log *slog.Logger, path string, o serveFit) (int, error) {
	devices, err := detectDevices()
	if err != nil {
		return 0, err
	}
	est, p, err := makePlan(planRequest{
		path:      path,
		model:     fit.Options{Context: o.ctx, Parallel: o.parallel, Batch: o.batch, KVType: o.kvType},
		gpuLayers: o.gpuLayers,
		margin:    fit.DefaultMargin(),
		fullGPU:   o.fullGPU,
		devices:   devices,
	})
	if p != nil {
		logPlan(log, est, p)
	}
	if err != nil {
		return 0, fmt.Errorf("memory plan: %w", err)
	}
	return p.GPULayers, nil
}

// detectDevices is the machine's inventory as llama.cpp will use it: the
// CPU with the memory the kernel says is available (ggml reports all of it
// as free on Linux), and the GPUs, or the integrated GPUs when there is no
// discrete one, as llama.cpp picks its devices.
func detectDevices() ([]fit.Device, error) {
	var cpu fit.Device
	var gpus, igpus []fit.Device
	for _, d := range llamacpp.Devices() {
		dev := fit.Device{Name: d.Name, Total: d.Total, Free: d.Free}
		switch d.Type {
		case llamacpp.DeviceCPU:
			cpu = dev
		case llamacpp.DeviceGPU, llamacpp.DeviceIGPU:
			dev.GPU, dev.Overhead = true, fit.DefaultGPUOverhead
			if d.Type == llamacpp.DeviceGPU {
				gpus = append(gpus, dev)
			} else {
				igpus = append(igpus, dev)
			}
		}
	}
	if cpu.Name == "" {
		return nil, fmt.Errorf("ggml reports no CPU device")
	}
	if total, avail, err := fit.SystemMemory(); err == nil {
		cpu.Total, cpu.Free = total, avail
	}
	if len(gpus) == 0 {
		gpus = igpus
	}
	return append([]fit.Device{cpu}, gpus...), nil
}

// withHypothetical replaces devices by those of --device NAME=SIZE flags:
// any GPU given replaces every detected GPU; "cpu" replaces system RAM.
func withHypothetical(detected []fit.Device, specs []string) ([]fit.Device, error) {
	if len(specs) == 0 {
		return detected, nil
	}
	cpu := detected[0]
	var gpus []fit.Device
	seen := map[string]bool{}
	for _, spec := range specs {
		name, size, ok := strings.Cut(spec, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("--device %q: want NAME=SIZE, e.g. cuda0=24GiB", spec)
		}
		n, err := fit.ParseSize(size)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("--device %q: want a size such as 24GiB", spec)
		}
		if seen[strings.ToLower(name)] {
			return nil, fmt.Errorf("--device %q: %s given twice", spec, name)
		}
		seen[strings.ToLower(name)] = true
		if strings.EqualFold(name, "cpu") {
			cpu = fit.Device{Name: "CPU", Total: n, Free: n}
			continue
		}
		gpus = append(gpus, fit.Device{Name: name, GPU: true, Total: n, Free: n, Overhead: fit.DefaultGPUOverhead})
	}
	if len(gpus) == 0 {
		gpus = detected[1:]
	}
	return append([]fit.Device{cpu}, gpus...), nil
}

// writePlan prints the plan as a table, one row per device.
func writePlan(w io.Writer, est *fit.Model, p *fit.Placement) error {
	o := est.Options
	fmt.Fprintf(w, "model:    %s, %d layers + output\n", est.Architecture, len(est.Blocks))
	seqs := "sequence"
	if o.Parallel > 1 {
		seqs += "s"
	}
	fmt.Fprintf(w, "context:  %d tokens × %d %s, batch %d, KV cache %s\n", o.Context, o.Parallel, seqs, o.Batch, o.KVType)
	fmt.Fprintf(w, "needs:    weights %s, KV cache %s, compute %s (all on one device)\n\n",
		fit.FormatBytes(est.Weights()), fit.FormatBytes(est.KV()), fit.FormatBytes(est.Compute+est.HostOutput))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tLAYERS\tWEIGHTS\tKV CACHE\tCOMPUTE\tNEEDS\tAVAILABLE\tFREE\t")
	for _, u := range p.Usage {
		status := "fits"
		if u.Shortfall() > 0 {
			status = "SHORT by " + fit.FormatBytes(u.Shortfall())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Device.Name, layersText(u),
			fit.FormatBytes(u.Weights), fit.FormatBytes(u.KV), fit.FormatBytes(u.Compute), fit.FormatBytes(u.Need()),
			fit.FormatBytes(u.Available), fit.FormatBytes(u.Device.Free), status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := "fits"
	for _, u := range p.Usage {
		if u.Shortfall() > 0 {
			verdict = "DOES NOT FIT"
		}
	}
	_, err := fmt.Fprintf(w, "\nplan:     %s, %s: %d of %d layers on GPUs (margin %s; GPU overhead %s each)\n",
		p.Mode, verdict, p.GPULayers, p.Layers, p.Margin, fit.FormatBytes(fit.DefaultGPUOverhead))
	return err
}

func layersText(u fit.Usage) string {
	if u.Output {
		return fmt.Sprintf("%d + output", u.Layers)
	}
	return fmt.Sprint(u.Layers)
}

// logPlan logs the plan, a line per device.
func logPlan(log *slog.Logger, est *fit.Model, p *fit.Placement) {
	log.Info("memory plan", "mode", p.Mode, "gpu_layers", p.GPULayers, "layers", p.Layers,
		"context", est.Options.Context, "parallel", est.Options.Parallel, "kv_type", est.Options.KVType,
		"weights", fit.FormatBytes(est.Weights()), "kv_cache", fit.FormatBytes(est.KV()))
	for _, u := range p.Usage {
		log.Info("memory plan device", "device", u.Device.Name, "layers", layersText(u),
			"weights", fit.FormatBytes(u.Weights), "kv_cache", fit.FormatBytes(u.KV), "compute", fit.FormatBytes(u.Compute),
			"need", fit.FormatBytes(u.Need()), "available", fit.FormatBytes(u.Available))
	}
}
