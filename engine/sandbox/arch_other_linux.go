//go:build linux && !amd64 && !arm64

package sandbox

// seccompArch reports that this package has no seccomp filter for this
// architecture: its syscall numbers and AUDIT_ARCH were never checked.
func seccompArch() (arch uint32, denyX32, ok bool) {
	return 0, false, false
}

func deniedSyscalls() []uint32 { return nil }

func execSyscalls() []uint32 { return nil }
