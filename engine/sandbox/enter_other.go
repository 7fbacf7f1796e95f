//go:build unix && !linux

package sandbox

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
)

// linuxOnly are the measures that need Linux (prctl, capabilities,
// seccomp, Landlock).
func linuxOnly() []string {
	return []string{NoNewPrivs, CapabilitiesDropped, LandlockFS, LandlockNet, LandlockScope, Seccomp, NonDumpable, ExecDenied}
}

// Enter applies what this OS offers, the resource limits, and re-executes
// the program with argv and env plus the marker. It returns only on
// failure.
func Enter(p Policy, argv, env []string) error {
	limits, err := applyRlimits(p)
	if err != nil {
		return err
	}
	r := Report{Measures: limits}
	for _, name := range linuxOnly() {
		r.Measures = append(r.Measures, notInForce(name, "not available on "+runtime.GOOS))
	}
	env, err = withMarker(env, r)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("sandbox: find executable: %w", err)
	}
	err = syscall.Exec(exe, argv, env)
	return fmt.Errorf("sandbox: exec %s: %w", exe, err)
}

// Finish removes the marker from the environment and returns the report
// of Enter: there is nothing to apply after the exec on this OS.
func Finish() (Report, error) {
	return takeMarker()
}
