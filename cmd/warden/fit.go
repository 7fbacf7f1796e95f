package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/warden-llm/warden/engine/fit"
	"github.com/warden-llm/warden/engine/llamacpp"
)

type fitOptions struct {
	ctx            int
	parallel       int
	batch          int
	kvType         string
	devices        []string
	gpuLayers      int
	margin         string
	requireFullGPU bool
}

func newFitCommand(g *globalOptions) *cobra.Command {
	var o fitOptions
	cmd := &cobra.Command{
		Use:   "fit MODEL.gguf",
		Short: "Show how a model would fit this machine's memory, or hardware you describe",
		Long: `Fit estimates from the model's GGUF header alone (no weights are read) the
memory llama.cpp will need: weights per layer, the KV cache for --ctx tokens
× --parallel sequences, compute buffers. It then plans as "warden serve"
does: every layer on the GPUs if they fit, else as many as fit with the rest
on the CPU, split between GPUs by free memory.

--device NAME=SIZE plans for hardware you do not have, to size a GPU before
buying one: each GPU given replaces the GPUs found here, and cpu=SIZE
replaces system RAM. A GPU is assumed to lose about 0.5 GiB to its driver.

Fit exits with status 1 when the model cannot run: not even in system RAM,
not with --gpu-layers, or not entirely on GPUs with --require-full-gpu.
docs/memory-fit.md explains the estimate.`,
		Example: `  warden fit ./models/llama-3-8b.Q4_K_M.gguf --ctx 8192 --parallel 4
  warden fit ./models/llama-3-70b.Q4_K_M.gguf --device cuda0=24GiB --device cuda1=24GiB
  warden fit ./models/qwen2.5-14b.Q4_K_M.gguf --device cuda0=12GiB --kv-type q8_0 --require-full-gpu`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFit(cmd, g, args[0], o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.ctx, "ctx", 0, "context window per request, in tokens (default: the model's, at most 4096)")
	f.IntVar(&o.parallel, "parallel", 1, "requests decoded together; each gets its own --ctx tokens of KV cache")
	f.IntVar(&o.batch, "batch", llamacpp.DefaultBatch, "most tokens evaluated in one decode step")
	f.StringVar(&o.kvType, "kv-type", "f16", "KV cache type: f16, q8_0 (half the size) or q4_0 (a quarter)")
	f.StringArrayVar(&o.devices, "device", nil, "plan for a device of this memory instead of the detected ones, e.g. cuda0=24GiB or cpu=64GiB (repeatable)")
	f.IntVar(&o.gpuLayers, "gpu-layers", -1, "layers to offload, counted as llama.cpp counts them (-1: as many as fit)")
	f.StringVar(&o.margin, "margin", fit.DefaultMargin().String(), "memory to leave free on every device: a percentage of it or a size")
	f.BoolVar(&o.requireFullGPU, "require-full-gpu", false, "fail unless every layer fits on the GPUs")
	return cmd
}

func runFit(cmd *cobra.Command, g *globalOptions, path string, o fitOptions) error {
	// The logger also quiets ggml's and llama.cpp's own messages.
	if _, err := g.logger(); err != nil {
		return err
	}
	if o.ctx < 0 || o.parallel < 1 || o.batch < 1 {
		return fmt.Errorf("--ctx must be ≥ 0, --parallel and --batch ≥ 1")
	}
	kv, err := fit.ParseCacheType(o.kvType)
	if err != nil {
		return fmt.Errorf("--kv-type: %w", err)
	}
	margin, err := fit.ParseMargin(o.margin)
	if err != nil {
		return fmt.Errorf("--margin: %w", err)
	}
	detected, err := detectDevices()
	if err != nil {
		return err
	}
	devices, err := withHypothetical(detected, o.devices)
	if err != nil {
		return err
	}
	est, p, err := makePlan(planRequest{
		path:      path,
		model:     fit.Options{Context: o.ctx, Parallel: o.parallel, Batch: o.batch, KVType: kv},
		gpuLayers: o.gpuLayers,
		margin:    margin,
		fullGPU:   o.requireFullGPU,
		devices:   devices,
	})
	var fitErr *fit.FitError
	if err != nil && !errors.As(err, &fitErr) {
		return err
	}
	if fitErr != nil && fitErr.Placement != nil {
		p = fitErr.Placement // the placement that does not fit, shortfalls shown
	}
	if p != nil {
		if werr := writePlan(cmd.OutOrStdout(), est, p); werr != nil {
			return werr
		}
	}
	return err
}
