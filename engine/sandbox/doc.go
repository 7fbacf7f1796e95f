// Package sandbox confines the engine process, the re-executed child of
// warden that runs llama.cpp, so that a memory-corruption bug in llama.cpp
// triggered by a hostile model file cannot reach the data directory's keys,
// audit log and revocation databases, the network, or the parent process.
//
// # Two-stage exec
//
// The Linux mechanisms used here act on the calling thread only:
// landlock_restrict_self, prctl(PR_SET_NO_NEW_PRIVS), capset and a seccomp
// filter installed without TSYNC. A Go program has several threads before
// main runs, and syscall.AllThreadsSyscall is refused in cgo binaries such
// as warden. So confinement is split around an exec of the program itself:
//
//   - Stage 1, Enter: the freshly started child locks its goroutine to its
//     OS thread, applies every per-thread measure to that thread, and
//     execve's its own executable (/proc/self/exe) with the same argv and a
//     marker in the environment that carries the stage-1 report. The
//     Landlock domain, no_new_privs, the seccomp filter, the dropped
//     capabilities and the resource limits all survive execve, and execve
//     leaves only the calling thread, so in stage 2 every thread the Go
//     runtime ever creates is confined from its start.
//   - Stage 2, Finish: the program, now confined, applies what execve
//     resets or what must come last: it becomes non-dumpable, and installs
//     a second seccomp filter, synchronized to all threads (TSYNC), that
//     denies execve and execveat. It removes the marker so that nothing
//     inherits it, and returns the report.
//
// # What each measure stops
//
//   - no_new_privs: execve can no longer grant privileges (setuid bits,
//     file capabilities); it is what lets an unprivileged process use
//     Landlock and seccomp.
//   - core_dumps_off (RLIMIT_CORE 0) and non_dumpable: the model's
//     weights and prompts do not land in core files, and processes of the
//     same user cannot ptrace the engine or read its /proc/<pid>/mem.
//   - address_space_limit (RLIMIT_AS, if Policy.AddressSpace is set): a
//     runaway allocation fails in the engine instead of starving the host.
//   - capabilities_dropped: when run as root, the bounding and ambient
//     sets are emptied, securebits locked so that uid 0 regains nothing on
//     execve or setuid, and every capability dropped: root in the engine is
//     an ordinary user bound by file permissions.
//   - seccomp: a deny list answers EPERM to sockets, ptrace and
//     process_vm_*, kexec, kernel modules, bpf, perf_event_open,
//     userfaultfd, keyrings, mounts and namespaces, file handles and
//     io_uring, and kills the process on a syscall of a foreign
//     architecture (x32 syscalls are denied on amd64).
//   - exec_denied: the engine cannot execve another program (a shell).
//   - landlock_fs: the engine reads only its executable and libraries,
//     the system libraries, a few /proc, /sys and /dev files, and the files
//     it was handed as descriptors (the verified model); it writes only to
//     /dev/null and GPU devices. The data directory is out of reach.
//   - landlock_net (ABI 4): no TCP bind or connect, should a socket exist.
//   - landlock_scope (ABI 6): no signals to, and no abstract Unix socket
//     connections with, processes outside the engine's Landlock domain,
//     such as its parent.
//
// Each measure the kernel lacks (an old kernel, Landlock disabled at boot,
// no seccomp) is reported as not in force and the others still apply; a
// measure the kernel supports but refuses is an error.
//
// # What it does not do
//
// The seccomp filter is a deny list, not an allow list: GPU drivers (CUDA,
// ROCm) use many syscalls and ioctls that vary by version, and an allow
// list that missed one would break inference. There is no mount, PID, user
// or network namespace: the engine sees the host's file system tree and
// processes, restricted by Landlock and seccomp only. Descriptors the
// engine holds when Enter runs (stdin, stdout, stderr, the model) stay
// usable as they are, whatever the policy. Before Landlock ABI 5, ioctls on
// the devices the engine may open are not restricted.
//
// On other operating systems only the resource limits apply (core dumps off
// and the address-space limit); macOS App Sandbox and sandbox-exec are not
// used, and the report says every Linux measure is not available.
package sandbox
