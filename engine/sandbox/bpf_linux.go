package sandbox

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Offsets in struct seccomp_data.
const (
	seccompDataNr   = 0
	seccompDataArch = 4
)

// x32SyscallBit marks the syscalls of the x32 ABI on x86-64: a second
// table with its own numbers, which a deny list of x86-64 numbers misses.
const x32SyscallBit = 0x40000000

// seccompDataArg0 is the offset of the low 32 bits of the first syscall
// argument in struct seccomp_data, on the little-endian architectures
// this package filters (amd64, arm64).
const seccompDataArg0 = 16

// namespaceFlags are clone's flags that make new namespaces. A new user
// namespace in particular hands its creator every capability inside it,
// and with them kernel code an unprivileged process cannot otherwise
// reach. (CLONE_NEWTIME is not among them: clone reads that bit as part
// of the exit signal.)
const namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// cloneRule names the clone syscalls of an architecture, for a program
// that refuses new namespaces: clone with any of namespaceFlags fails
// with EPERM, and clone3, whose flags sit in memory a filter cannot read,
// with ENOSYS, which makes the C library fall back to clone (as Docker's
// default profile does). Go's runtime creates its threads with clone.
type cloneRule struct{ clone, clone3 uint32 }

// denyProgram is the seccomp BPF program that kills the process on a
// syscall of a foreign architecture (whose numbers mean other syscalls),
// fails x32 syscalls when denyX32 is set and the syscalls in denied with
// EPERM, refuses new namespaces through clone when clone is not nil, and
// allows everything else.
//
//	ld  [arch]
//	jeq #arch, +1        ; native: skip the kill
//	ret #KILL_PROCESS
//	ld  [nr]
//	jge #0x40000000, deny ; only if denyX32
//	jeq #denied[i], deny  ; for each i
//	jeq #clone3, 0, +1    ; only with a clone rule, down to the jset
//	ret #ERRNO(ENOSYS)
//	jeq #clone, 0, +2
//	ld  [args[0]]
//	jset #namespaceFlags, deny
//	ret #ALLOW
//	deny: ret #ERRNO(EPERM)
func denyProgram(arch uint32, denyX32 bool, denied []uint32, clone *cloneRule) ([]unix.SockFilter, error) {
	prog := []unix.SockFilter{
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, seccompDataArch),
		jump(unix.BPF_JEQ, arch, 1, 0),
		stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_KILL_PROCESS),
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, seccompDataNr),
	}
	// The jumps to deny are filled in once its place is known.
	var toDeny []int
	if denyX32 {
		toDeny = append(toDeny, len(prog))
		prog = append(prog, jump(unix.BPF_JGE, x32SyscallBit, 0, 0))
	}
	for _, nr := range denied {
		toDeny = append(toDeny, len(prog))
		prog = append(prog, jump(unix.BPF_JEQ, nr, 0, 0))
	}
	if clone != nil {
		prog = append(prog,
			jump(unix.BPF_JEQ, clone.clone3, 0, 1),
			stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS)),
			jump(unix.BPF_JEQ, clone.clone, 0, 2),
			stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, seccompDataArg0))
		toDeny = append(toDeny, len(prog))
		prog = append(prog, jump(unix.BPF_JSET, namespaceFlags, 0, 0))
	}
	prog = append(prog, stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ALLOW))
	deny := len(prog)
	prog = append(prog, stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM)))

	for _, i := range toDeny {
		// A jump counts from the instruction after it, in 8 bits.
		off := deny - i - 1
		if off > 0xff {
			return nil, fmt.Errorf("seccomp: program too long: jump of %d instructions", off)
		}
		prog[i].Jt = uint8(off)
	}
	return prog, nil
}

func stmt(code uint16, k uint32) unix.SockFilter {
	return unix.SockFilter{Code: code, K: k}
}

func jump(op uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | op | unix.BPF_K, K: k, Jt: jt, Jf: jf}
}
