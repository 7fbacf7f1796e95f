package sandbox

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// applySeccomp installs the stage-1 deny list on the calling thread. It is
// not synchronized to the other threads (TSYNC): they die at execve, and
// the filter survives it, so every thread of stage 2 runs under it.
func applySeccomp() (Measure, error) {
	arch, denyX32, ok := seccompArch()
	if !ok {
		return notInForce(Seccomp, "no filter for this architecture"), nil
	}
	denied := deniedSyscalls()
	prog, err := denyProgram(arch, denyX32, denied, &cloneRule{clone: unix.SYS_CLONE, clone3: unix.SYS_CLONE3})
	if err != nil {
		return Measure{}, err
	}
	if why, err := installFilter(prog, 0); err != nil || why != "" {
		return notInForce(Seccomp, why), err
	}
	detail := fmt.Sprintf("denies %d syscalls with EPERM: sockets, ptrace, process_vm, kexec, modules, "+
		"bpf, perf_event_open, userfaultfd, keys, mounts, namespaces (clone's too; clone3 answers ENOSYS), file handles, io_uring", len(denied))
	if denyX32 {
		detail += "; and the x32 ABI"
	}
	return inForce(Seccomp, detail), nil
}

// denyExec installs the stage-2 filter that fails execve and execveat, on
// every thread of the process at once (TSYNC): stage 2 is multi-threaded,
// and a thread left out could exec.
func denyExec() (Measure, error) {
	arch, denyX32, ok := seccompArch()
	if !ok {
		return notInForce(ExecDenied, "no filter for this architecture"), nil
	}
	prog, err := denyProgram(arch, denyX32, execSyscalls(), nil)
	if err != nil {
		return Measure{}, err
	}
	if why, err := installFilter(prog, unix.SECCOMP_FILTER_FLAG_TSYNC); err != nil || why != "" {
		return notInForce(ExecDenied, why), err
	}
	return inForce(ExecDenied, "execve and execveat denied on all threads"), nil
}

// installFilter installs prog with seccomp(2). It returns why not when the
// kernel lacks seccomp filters, and an error when it has them but refused.
func installFilter(prog []unix.SockFilter, flags uintptr) (absent string, err error) {
	if _, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); errors.Is(err, unix.EINVAL) {
		return "kernel lacks seccomp (PR_GET_SECCOMP: EINVAL)", nil
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	switch {
	case errno == unix.ENOSYS:
		return "kernel lacks the seccomp syscall (ENOSYS)", nil
	case errno == unix.EPERM:
		// no_new_privs is set before, so only an inherited filter (a
		// container's, a systemd unit's) refuses seccomp itself.
		return "refused by a seccomp filter this process runs under, e.g. a container's or a systemd unit's (EPERM)", nil
	case errno != 0:
		return "", fmt.Errorf("seccomp: install filter (flags %#x): %w", flags, errno)
	case r != 0:
		// With TSYNC, a positive result is a thread that could not be
		// synchronized.
		return "", fmt.Errorf("seccomp: install filter: thread %d could not be synchronized", r)
	}
	return "", nil
}
