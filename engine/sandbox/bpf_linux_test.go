package sandbox

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// runFilter runs prog on a seccomp_data for syscall nr of arch in the
// BPF virtual machine of x/net/bpf, which also checks that every
// instruction decodes and every jump lands inside the program. That VM
// loads words big-endian, as from a packet, where the kernel loads
// seccomp_data in native order; the input is encoded big-endian so that
// the program sees the values the kernel would show it.
func runFilter(t *testing.T, prog []unix.SockFilter, arch, nr uint32) uint32 {
	t.Helper()
	return runFilterArg(t, prog, arch, nr, 0)
}

// runFilterArg is runFilter with the low 32 bits of the first argument.
func runFilterArg(t *testing.T, prog []unix.SockFilter, arch, nr, arg0 uint32) uint32 {
	t.Helper()
	insns := make([]bpf.Instruction, len(prog))
	for i, f := range prog {
		insns[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}.Disassemble()
		if _, raw := insns[i].(bpf.RawInstruction); raw {
			t.Fatalf("instruction %d %+v does not decode", i, f)
		}
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	data := make([]byte, 64) // sizeof(struct seccomp_data)
	binary.BigEndian.PutUint32(data[seccompDataNr:], nr)
	binary.BigEndian.PutUint32(data[seccompDataArch:], arch)
	binary.BigEndian.PutUint32(data[seccompDataArg0:], arg0)
	ret, err := vm.Run(data)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return uint32(ret)
}

const (
	testArch = unix.AUDIT_ARCH_X86_64
	eperm    = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	allow    = unix.SECCOMP_RET_ALLOW
	kill     = unix.SECCOMP_RET_KILL_PROCESS
)

func TestDenyProgram(t *testing.T) {
	const socket, ptrace, read, openat = 41, 101, 0, 257
	prog, err := denyProgram(testArch, true, []uint32{socket, ptrace}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		arch, nr uint32
		want     uint32
	}{
		{"first denied", testArch, socket, eperm},
		{"last denied", testArch, ptrace, eperm},
		{"read allowed", testArch, read, allow},
		{"openat allowed", testArch, openat, allow},
		{"x32 socket", testArch, x32SyscallBit | socket, eperm},
		{"x32 read", testArch, x32SyscallBit | read, eperm},
		{"i386 read", unix.AUDIT_ARCH_I386, read, kill},
		{"i386 socket", unix.AUDIT_ARCH_I386, socket, kill},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runFilter(t, prog, tt.arch, tt.nr); got != tt.want {
				t.Errorf("filter(arch %#x, nr %#x) = %#x, want %#x", tt.arch, tt.nr, got, tt.want)
			}
		})
	}
}

func TestDenyProgramWithoutX32(t *testing.T) {
	prog, err := denyProgram(unix.AUDIT_ARCH_AARCH64, false, []uint32{198}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := runFilter(t, prog, unix.AUDIT_ARCH_AARCH64, x32SyscallBit|63); got != allow {
		t.Errorf("high syscall number without x32 denial = %#x, want allow", got)
	}
	if got := runFilter(t, prog, unix.AUDIT_ARCH_AARCH64, 198); got != eperm {
		t.Errorf("denied syscall = %#x, want EPERM", got)
	}
}

func TestThisArchFilters(t *testing.T) {
	arch, denyX32, ok := seccompArch()
	if !ok {
		t.Skip("no seccomp filter for this architecture")
	}
	denied := deniedSyscalls()
	stage1, err := denyProgram(arch, denyX32, denied, &cloneRule{clone: unix.SYS_CLONE, clone3: unix.SYS_CLONE3})
	if err != nil {
		t.Fatal(err)
	}
	for _, nr := range denied {
		if got := runFilter(t, stage1, arch, nr); got != eperm {
			t.Errorf("stage 1: syscall %d = %#x, want EPERM", nr, got)
		}
	}
	for _, nr := range []uint32{unix.SYS_READ, unix.SYS_OPENAT, unix.SYS_MMAP, unix.SYS_IOCTL, unix.SYS_EXECVE, unix.SYS_CLONE} {
		if got := runFilter(t, stage1, arch, nr); got != allow {
			t.Errorf("stage 1: syscall %d = %#x, want allow", nr, got)
		}
	}
	stage2, err := denyProgram(arch, denyX32, execSyscalls(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for nr, want := range map[uint32]uint32{unix.SYS_EXECVE: eperm, unix.SYS_EXECVEAT: eperm, unix.SYS_OPENAT: allow, unix.SYS_SOCKET: allow} {
		if got := runFilter(t, stage2, arch, nr); got != want {
			t.Errorf("stage 2: syscall %d = %#x, want %#x", nr, got, want)
		}
	}
}

func TestDenyProgramTooLong(t *testing.T) {
	long := make([]uint32, 300)
	for i := range long {
		long[i] = uint32(1000 + i)
	}
	if _, err := denyProgram(testArch, true, long, nil); err == nil {
		t.Error("a deny list whose jumps overflow 8 bits: no error")
	}
}

func TestDenyProgramRefusesNewNamespaces(t *testing.T) {
	const socket = 41
	rule := &cloneRule{clone: unix.SYS_CLONE, clone3: unix.SYS_CLONE3}
	prog, err := denyProgram(testArch, true, []uint32{socket}, rule)
	if err != nil {
		t.Fatal(err)
	}
	// What Go's runtime passes for a new thread.
	const goThread = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD
	enosys := unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	for _, tc := range []struct {
		name     string
		nr, arg0 uint32
		want     uint32
	}{
		{"thread", unix.SYS_CLONE, goThread, allow},
		{"fork", unix.SYS_CLONE, uint32(unix.SIGCHLD), allow},
		{"new user namespace", unix.SYS_CLONE, uint32(unix.SIGCHLD) | unix.CLONE_NEWUSER, eperm},
		{"new network namespace", unix.SYS_CLONE, goThread | unix.CLONE_NEWNET, eperm},
		{"new mount namespace", unix.SYS_CLONE, unix.CLONE_NEWNS, eperm},
		{"new pid namespace", unix.SYS_CLONE, unix.CLONE_NEWPID, eperm},
		{"clone3", unix.SYS_CLONE3, 0, enosys},
		{"denied still denied", socket, 0, eperm},
		{"other syscall with namespace bits in its argument", unix.SYS_READ, unix.CLONE_NEWUSER, allow},
	} {
		if got := runFilterArg(t, prog, testArch, tc.nr, tc.arg0); got != tc.want {
			t.Errorf("%s: %#x, want %#x", tc.name, got, tc.want)
		}
	}
	// Without the rule, clone and clone3 pass.
	plain, err := denyProgram(testArch, true, []uint32{socket}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := runFilterArg(t, plain, testArch, unix.SYS_CLONE, unix.CLONE_NEWUSER); got != allow {
		t.Errorf("no clone rule: clone(CLONE_NEWUSER) = %#x, want allowed", got)
	}
}
