package main

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-llm/warden/engine/fit"
	"github.com/warden-llm/warden/engine/llamacpp"
	"github.com/warden-llm/warden/models/testmodel"
)

func TestWithHypothetical(t *testing.T) {
	detected := []fit.Device{
		{Name: "CPU", Total: 64 * fit.GiB, Free: 60 * fit.GiB},
		{Name: "CUDA0", GPU: true, Total: 8 * fit.GiB, Free: 7 * fit.GiB, Overhead: fit.DefaultGPUOverhead},
	}
	got, err := withHypothetical(detected, []string{"cuda0=24GiB", "cuda1=12GiB"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != detected[0] || got[1].Name != "cuda0" || got[1].Free != 24*fit.GiB ||
		!got[2].GPU || got[2].Total != 12*fit.GiB || got[2].Overhead != fit.DefaultGPUOverhead {
		t.Errorf("GPUs given: %+v", got)
	}
	got, err = withHypothetical(detected, []string{"CPU=16GiB"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Free != 16*fit.GiB || got[0].GPU || got[1] != detected[1] {
		t.Errorf("only the CPU given: %+v, want 16 GiB of RAM and the detected GPU", got)
	}
	for _, bad := range []string{"cuda0", "=24GiB", "cuda0=", "cuda0=lots", "cuda0=0"} {
		if _, err := withHypothetical(detected, []string{bad}); err == nil {
			t.Errorf("--device %q accepted", bad)
		}
	}
	if _, err := withHypothetical(detected, []string{"cuda0=1GiB", "CUDA0=2GiB"}); err == nil {
		t.Error("a device given twice was accepted")
	}
}

// runFitCommand runs `warden fit` on the demo model with args.
func runFitCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "demo.gguf")
	if _, _, err := testmodel.WriteFile(path, testmodel.Demo()); err != nil {
		t.Fatal(err)
	}
	cmd := newFitCommand(&globalOptions{logLevel: "warn", logFormat: "text"})
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{path}, args...))
	err := cmd.Execute()
	return out.String(), err
}

func TestFitCommandPlansForHypotheticalGPUs(t *testing.T) {
	out, err := runFitCommand(t, "--device", "cuda0=2GiB", "--device", "cuda1=1GiB", "--ctx", "1024")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"cuda0", "cuda1", "+ output", "plan:     full, fits: 3 of 3 layers on GPUs", "1024 tokens × 1 sequence,"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestFitCommandRefusesWhatCannotFit(t *testing.T) {
	out, err := runFitCommand(t, "--device", "cpu=1MiB", "--margin", "0")
	var fe *fit.FitError
	if !errors.As(err, &fe) {
		t.Fatalf("err %v, want a *fit.FitError\n%s", err, out)
	}
	if !strings.Contains(out, "SHORT by") || !strings.Contains(out, "DOES NOT FIT") {
		t.Errorf("output does not show the shortfall:\n%s", out)
	}
	if _, err := runFitCommand(t, "--kv-type", "q5_1"); err == nil || !strings.Contains(err.Error(), "--kv-type") {
		t.Errorf("--kv-type q5_1: err %v", err)
	}
}

func TestDevicesSaysWhenThereIsNoGPU(t *testing.T) {
	cpu := llamacpp.Device{Name: "CPU", Description: "test CPU", Type: llamacpp.DeviceCPU, Total: 8 * fit.GiB, Free: 8 * fit.GiB}
	gpu := llamacpp.Device{Name: "CUDA0", Description: "test GPU", Type: llamacpp.DeviceGPU, Total: 24 * fit.GiB, Free: 23 * fit.GiB}
	for _, c := range []struct {
		devices []llamacpp.Device
		noGPU   bool
	}{
		{[]llamacpp.Device{cpu}, true},
		{[]llamacpp.Device{cpu, gpu}, false},
	} {
		cmd := newDevicesCommand(&globalOptions{})
		var out bytes.Buffer
		cmd.SetOut(&out)
		if err := writeDevices(cmd, c.devices); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(out.String(), "No GPU found"); got != c.noGPU {
			t.Errorf("%d devices: says no GPU %v, want %v:\n%s", len(c.devices), got, c.noGPU, out.String())
		}
		if !c.noGPU && !strings.Contains(out.String(), "CUDA0   GPU   24.00 GiB  23.00 GiB  test GPU") {
			t.Errorf("GPU row missing:\n%s", out.String())
		}
	}
}
