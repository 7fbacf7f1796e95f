package llamacpp

import (
	"fmt"
	"time"

	"github.com/ollama/ollama/llama"
	"github.com/ollama/ollama/ml"

	"github.com/warden-llm/warden/engine/fit"
	"github.com/warden-llm/warden/engine/gguf"
)

// openLlama loads the model and creates its context, recording the buffers
// llama.cpp allocates for each.
//
// The file is mapped only when a GPU takes every layer (gpuOnly). Layers
// kept on the CPU have their matrices repacked into anonymous memory at
// load (GGML_USE_CPU_REPACK), and a mapping would keep the originals
// resident beside them: twice the weights (measured for a 620 MB model: 1.23 GB
// resident mapped, 0.69 GB read). Reading also means that what serves is
// what was hashed at load, whatever later happens to the file.
func openLlama(cfg Config, gpuLayers int, gpuOnly bool, kv fit.CacheType) (*llama.Model, *llama.Context, Memory, error) {
	var model *llama.Model
	weights, err := captureBuffers(func() (err error) {
		model, err = llama.LoadModelFromFile(cfg.Path, llama.ModelParams{
			NumGpuLayers: gpuLayers,
			UseMmap:      gpuOnly,
			// Replaces llama.cpp's default callback, which prints progress dots
			// to stderr whatever the log settings.
			Progress: loadProgress(cfg.Logger, cfg.Path, time.Now),
		})
		return err
	})
	if err != nil {
		return nil, nil, Memory{}, fmt.Errorf("load %s: llama.cpp refused the file (its log above says why): %w", cfg.Path, err)
	}
	params := llama.NewContextParams(cfg.Context*cfg.Parallel, cfg.Batch, cfg.Parallel, cfg.Threads, ml.FlashAttentionAuto, string(kv))
	var lctx *llama.Context
	contextMemory, err := captureBuffers(func() (err error) {
		lctx, err = llama.NewContextWithModel(model, params)
		return err
	})
	if err != nil {
		llama.FreeModel(model)
		hint := ""
		if kv != fit.CacheF16 {
			hint = fmt.Sprintf("; a %s KV cache needs flash attention, which llama.cpp lacks for some head sizes and devices: try f16", kv)
		}
		return nil, nil, Memory{}, fmt.Errorf("load %s: %w (context of %d tokens × %d sequences%s)", cfg.Path, err, cfg.Context, cfg.Parallel, hint)
	}
	return model, lctx, Memory{Buffers: append(weights.Buffers, contextMemory.Buffers...)}, nil
}

// allOnGPU reports whether a GPU holds every layer of a model of the given
// block count, the output layer included, when gpuLayers are offloaded.
func allOnGPU(gpuLayers, layers int, gpu bool) bool {
	return gpu && gpuLayers > layers
}

// Memory returns the buffers llama.cpp allocated for the model.
func (m *Model) Memory() Memory { return m.memory }

// logMemory logs what llama.cpp allocated beside Warden's estimate of it
// (engine/fit), so that an estimate gone wrong shows in every load's log.
func (m *Model) logMemory(meta *gguf.File, gpuLayers int, kv fit.CacheType) {
	est, err := fit.Estimate(meta, fit.Options{Context: m.cfg.Context, Parallel: m.cfg.Parallel, Batch: m.cfg.Batch, KVType: kv})
	if err != nil {
		m.log.Warn("no memory estimate to compare with", "err", err)
		return
	}
	if !hasGPU(Devices()) {
		gpuLayers = 0 // llama.cpp keeps every layer on the CPU
	}
	compute := estimatedCompute(est, gpuLayers)
	weights := est.Weights()
	if gpuLayers > len(est.Blocks) {
		weights += est.TiedOutput
	}
	m.log.Info("memory allocated",
		"weights", vsEstimate(m.memory.Sum("model"), weights),
		"kv_cache", vsEstimate(m.memory.Sum("KV", "RS"), est.KV()),
		"compute", vsEstimate(m.memory.Sum("compute", "output"), compute),
		"total", vsEstimate(m.memory.Sum("model", "KV", "RS", "compute", "output"), weights+est.KV()+compute))
}

// estimatedCompute is the estimate's compute and output buffers, summed
// over the devices of a placement of gpuLayers on one GPU.
func estimatedCompute(est *fit.Model, gpuLayers int) uint64 {
	huge := ^uint64(0) >> 2
	devices := []fit.Device{{Name: "CPU", Total: huge, Free: huge}, {Name: "GPU", GPU: true, Total: huge, Free: huge}}
	p, err := fit.Plan(est, devices, fit.PlanOptions{GPULayers: gpuLayers})
	if err != nil {
		return est.Compute + est.HostOutput
	}
	var n uint64
	for _, u := range p.Usage {
		n += u.Compute
	}
	return n
}

func vsEstimate(actual, estimate uint64) string {
	diff := 0.0
	if actual > 0 {
		diff = 100 * (float64(estimate)/float64(actual) - 1)
	}
	return fmt.Sprintf("%s (estimate %s, %+.1f %%)", fit.FormatBytes(actual), fit.FormatBytes(estimate), diff)
}

func hasGPU(devices []Device) bool {
	for _, d := range devices {
		if d.Type == DeviceGPU || d.Type == DeviceIGPU {
			return true
		}
	}
	return false
}
