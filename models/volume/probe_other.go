//go:build !linux

package volume

import (
	"os"
	"runtime"
)

// Prober inspects the system for Probe; only Linux is inspected.
type Prober struct{ Sys, Proc string }

// System is the Prober for this machine.
func System() Prober { return Prober{} }

// Probe answers unknown: Warden inspects volumes on Linux only.
func (Prober) Probe(*os.File, string) Encryption {
	return Encryption{Reason: "volume encryption is inspected on Linux only, not " + runtime.GOOS}
}
