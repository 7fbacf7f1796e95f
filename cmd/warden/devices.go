package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/warden-llm/warden/engine/fit"
	"github.com/warden-llm/warden/engine/llamacpp"
)

func newDevicesCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "devices",
		Short: "List the devices llama.cpp can run models on, with their memory",
		Long: `Devices lists the backend devices ggml found (CPU, CUDA, Metal, ...) with
their total and free memory, as "warden fit" and "warden serve" plan with
them. For the CPU, free memory is the kernel's MemAvailable; ggml itself
counts all memory as free.

It also says which CPU kernels run: the variant library from lib/ollama/cpu
chosen for this CPU (and the CPU features that decided it), or the kernels
built into the binary and why. WARDEN_CPU_VARIANT forces a variant, or
"built-in" (docs/cpu-variants.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The logger also quiets ggml's and llama.cpp's own messages.
			if _, err := g.logger(); err != nil {
				return err
			}
			if err := writeDevices(cmd, llamacpp.Devices()); err != nil {
				return err
			}
			return writeCPUKernels(cmd.OutOrStdout(), llamacpp.CPUKernels())
		},
	}
}

func writeDevices(cmd *cobra.Command, devices []llamacpp.Device) error {
	w := cmd.OutOrStdout()
	total, avail, memErr := fit.SystemMemory()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tTYPE\tTOTAL\tFREE\tDESCRIPTION")
	gpus := 0
	for _, d := range devices {
		free := d.Free
		if d.Type == llamacpp.DeviceCPU && memErr == nil {
			d.Total, free = total, avail
		}
		if d.Type == llamacpp.DeviceGPU || d.Type == llamacpp.DeviceIGPU {
			gpus++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, d.Type, fit.FormatBytes(d.Total), fit.FormatBytes(free), d.Description)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if gpus == 0 {
		fmt.Fprintln(w, "\nNo GPU found: models run on the CPU only.")
		fmt.Fprintln(w, llamacpp.Backends().Explain("cuda"))
	}
	if memErr != nil {
		fmt.Fprintf(w, "\nCPU free memory is ggml's figure (all of it): %v\n", memErr)
	}
	return nil
}

// writeCPUKernels says which CPU kernels run, why, and what else was found.
func writeCPUKernels(w io.Writer, r llamacpp.CPUReport) error {
	fmt.Fprintf(w, "\nCPU kernels: %s\n", r.Variant)
	if r.Library != "" {
		fmt.Fprintf(w, "  library:  %s\n", r.Library)
		fmt.Fprintf(w, "  uses:     %s (all present on this CPU)\n", strings.Join(r.Features, ", "))
	} else {
		fmt.Fprintf(w, "  built for: %s\n", strings.Join(r.Features, ", "))
	}
	if r.Note != "" {
		fmt.Fprintf(w, "  why:      %s\n", r.Note)
	}
	fmt.Fprintf(w, "  this CPU: %s\n", strings.ReplaceAll(r.CPU.String(), ",", ", "))
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "  not used: %s: %s\n", s.Path, s.Reason)
	}
	if r.Err != nil {
		return fmt.Errorf("CPU kernels: %w", r.Err)
	}
	return nil
}
