//go:build linux && (amd64 || arm64)

package sandbox

import "golang.org/x/sys/unix"

// deniedSyscalls are the syscalls stage 1 denies with EPERM, by what they
// would give a compromised engine:
//   - sockets: the network, and Unix sockets to local services;
//   - ptrace and process_vm_*: the memory of other processes;
//   - kernel code and attack surface: modules, kexec, bpf, perf events,
//     userfaultfd (a common exploit primitive), keyrings;
//   - mounts and namespaces: a way around the Landlock view of the files;
//   - open_by_handle_at: opening files without a path, past Landlock;
//   - io_uring: it performs operations (sockets included) that seccomp
//     never sees as syscalls.
//
// On amd64 and arm64 the socket calls are plain syscalls (no socketcall).
func deniedSyscalls() []uint32 {
	return []uint32{
		unix.SYS_SOCKET, unix.SYS_SOCKETPAIR, unix.SYS_CONNECT, unix.SYS_BIND,
		unix.SYS_LISTEN, unix.SYS_ACCEPT, unix.SYS_ACCEPT4,
		unix.SYS_PTRACE, unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV,
		unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD,
		unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE,
		unix.SYS_BPF, unix.SYS_PERF_EVENT_OPEN, unix.SYS_USERFAULTFD,
		unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY,
		unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT, unix.SYS_CHROOT,
		unix.SYS_UNSHARE, unix.SYS_SETNS,
		unix.SYS_MOUNT_SETATTR, unix.SYS_FSOPEN, unix.SYS_FSCONFIG, unix.SYS_FSMOUNT,
		unix.SYS_FSPICK, unix.SYS_MOVE_MOUNT, unix.SYS_OPEN_TREE, unix.SYS_OPEN_TREE_ATTR,
		unix.SYS_SWAPON, unix.SYS_SWAPOFF, unix.SYS_REBOOT,
		unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_NAME_TO_HANDLE_AT,
		unix.SYS_IO_URING_SETUP, unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER,
	}
}

// execSyscalls are denied in stage 2, once the program has been exec'd.
func execSyscalls() []uint32 {
	return []uint32{unix.SYS_EXECVE, unix.SYS_EXECVEAT}
}
