package sandbox

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// selfExe is the running executable as the kernel knows it: exec'ing it
// runs the very file this process was started from, even if the path it
// came from now names another.
const selfExe = "/proc/self/exe"

// Enter applies p to the calling thread (stage 1) and re-executes the
// program with argv and env plus a marker carrying the stage-1 report. p
// must let the executable, its loader and its libraries be executed, as
// DefaultPolicy does; a rule for a path that has since been replaced does
// not cover the running executable, and the exec fails.
//
// Enter returns only on failure, and then the calling thread is partly
// confined and the process's resource limits set: the caller should exit.
// A measure the kernel lacks is not a failure; it is reported as not in
// force.
func Enter(p Policy, argv, env []string) error {
	// Never unlocked: the measures below hold for this thread only, and
	// execve must run on it. Should Enter fail, the goroutine's exit ends
	// the thread rather than handing it back to the scheduler.
	runtime.LockOSThread()

	r, err := confineThread(p)
	if err != nil {
		return err
	}
	env, err = withMarker(env, r)
	if err != nil {
		return err
	}
	err = syscall.Exec(selfExe, argv, env)
	return fmt.Errorf("sandbox: exec %s: %w", selfExe, err)
}

// confineThread applies the per-thread measures of stage 1 in order:
// no_new_privs first (Landlock and seccomp need it), capabilities before
// the filters, seccomp last.
func confineThread(p Policy) (Report, error) {
	var r Report
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return r, fmt.Errorf("sandbox: set no_new_privs: %w", err)
	}
	r.Measures = append(r.Measures, inForce(NoNewPrivs, ""))

	limits, err := applyRlimits(p)
	if err != nil {
		return r, err
	}
	r.Measures = append(r.Measures, limits...)

	caps, err := dropCapabilities()
	if err != nil {
		return r, err
	}
	r.Measures = append(r.Measures, caps)

	landlock, err := applyLandlock(p)
	if err != nil {
		return r, err
	}
	r.Measures = append(r.Measures, landlock...)

	filter, err := applySeccomp()
	if err != nil {
		return r, err
	}
	r.Measures = append(r.Measures, filter)
	return r, nil
}

// Finish applies the stage-2 measures, which execve would have undone or
// which must come last: the process becomes non-dumpable (no core, no
// ptrace by the same user, /proc/<pid> owned by root) and execve is denied
// on every thread. It removes the marker from the environment and returns
// stage 1's report followed by stage 2's. Call it first thing in stage 2.
func Finish() (Report, error) {
	r, err := takeMarker()
	if err != nil {
		return r, err
	}
	if err := verifyStage1(r); err != nil {
		return r, err
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return r, fmt.Errorf("sandbox: set non-dumpable: %w", err)
	}
	r.Measures = append(r.Measures, inForce(NonDumpable, ""))

	exec, err := denyExec()
	if err != nil {
		return r, err
	}
	r.Measures = append(r.Measures, exec)
	return r, nil
}

// verifyStage1 checks the marker's claims the kernel can confirm, so that
// a marker set by hand in an unconfined process's environment does not
// pass for confinement.
func verifyStage1(r Report) error {
	var errs []error
	if r.InForce(NoNewPrivs) {
		if v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); err != nil || v != 1 {
			errs = append(errs, fmt.Errorf("no_new_privs is not set (%d, %v)", v, err))
		}
	}
	if r.InForce(Seccomp) {
		if v, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err != nil || v != unix.SECCOMP_MODE_FILTER {
			errs = append(errs, fmt.Errorf("no seccomp filter is installed (mode %d, %v)", v, err))
		}
	}
	if r.InForce(CapabilitiesDropped) {
		if c, err := capget(); err != nil || !c.empty() {
			errs = append(errs, fmt.Errorf("capabilities are held (%+v, %v)", c, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sandbox: stage-1 report contradicts the kernel: %w", err)
	}
	return nil
}
