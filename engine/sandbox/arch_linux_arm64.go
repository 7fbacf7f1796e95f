package sandbox

import "golang.org/x/sys/unix"

// seccompArch is the AUDIT_ARCH of this build's syscalls, whether the x32
// ABI must be denied, and whether seccomp filters exist for it here.
func seccompArch() (arch uint32, denyX32, ok bool) {
	return unix.AUDIT_ARCH_AARCH64, false, true
}
