package main

import (
	"fmt"
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
counts all memory as free.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The logger also quiets ggml's and llama.cpp's own messages.
			if _, err := g.logger(); err != nil {
				return err
			}
			return writeDevices(cmd, llamacpp.Devices())
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
