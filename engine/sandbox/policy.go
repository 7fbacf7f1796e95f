package sandbox

import (
	"os"
	"path/filepath"
)

// Policy says what a confined engine process may reach. Everything else on
// the file system is denied, and nothing but Devices may be written. Paths
// in Read and Exec must exist when Enter runs; DefaultPolicy only names
// paths that do.
type Policy struct {
	// Read lists files or directories readable beneath (read file, read dir).
	Read []string
	// Exec lists files or directories readable and executable beneath: the
	// executable, its shared libraries, ld.so.
	Exec []string
	// Devices lists device files or directories opened read-write with
	// ioctl (GPUs). Ones that do not exist are skipped.
	Devices []string
	// FDs lists descriptors open in this process whose files may be read,
	// e.g. the verified model on fd 3. The rule is added on the descriptor
	// itself, since llama.cpp reopens it through /proc/self/fd/N, which
	// resolves to the file, whose directory is not readable.
	FDs []int
	// AddressSpace is RLIMIT_AS in bytes; 0 leaves it unlimited. GPU
	// runtimes such as CUDA reserve far more address space than they use,
	// so a limit suits CPU inference only.
	AddressSpace uint64
}

// procSelf stands for the process's own /proc directory. It is resolved to
// /proc/<pid> when the policy is applied: the pid stays the same across
// execve, while /proc/self is a link that Landlock would follow to whatever
// process opened it.
const procSelf = "/proc/self"

// Paths of the system that the engine needs. Globs are expanded. They are
// functions, not variables, so that no caller can change them.
func systemLibDirs() []string {
	return []string{
		"/lib", "/lib32", "/lib64", "/libx32",
		"/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/libx32",
		"/usr/local/lib", "/usr/local/lib64",
		"/usr/local/cuda", "/usr/local/cuda-*",
		"/opt/rocm", "/opt/rocm-*",
	}
}

func systemReadPaths() []string {
	return []string{
		"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
		procSelf, "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/driver",
		"/sys",
		"/dev/urandom", "/dev/random",
	}
}

func systemDevices() []string {
	return []string{
		"/dev/null",
		"/dev/nvidia*", "/dev/nvidia-caps", "/dev/dri", "/dev/kfd",
	}
}

// DefaultPolicy is what the engine needs on this OS: exe and libDirs (e.g.
// <exe>/../lib/ollama) readable and executable, the system library
// directories, the dynamic loader's configuration, the process's own /proc
// directory and a few system files read, /sys read, /dev/null and the GPU
// devices read-write, and the given descriptors. Paths that do not exist are
// skipped.
func DefaultPolicy(exe string, libDirs []string, fds ...int) Policy {
	return defaultPolicy(exe, libDirs, fds, existing)
}

// defaultPolicy is DefaultPolicy with the file system lookup as a
// parameter, so that tests can say which paths exist.
func defaultPolicy(exe string, libDirs []string, fds []int, expand func(string) []string) Policy {
	all := func(patterns ...[]string) []string {
		var out []string
		for _, ps := range patterns {
			for _, p := range ps {
				out = append(out, expand(p)...)
			}
		}
		return out
	}
	return Policy{
		Read:    all(systemReadPaths()),
		Exec:    all([]string{exe}, libDirs, systemLibDirs()),
		Devices: all(systemDevices()),
		FDs:     append([]int(nil), fds...),
	}
}

// existing expands pattern as a glob and returns the paths that exist.
func existing(pattern string) []string {
	if pattern == "" {
		return nil
	}
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil
	}
	out := matches[:0]
	for _, m := range matches {
		if _, err := os.Stat(m); err == nil {
			out = append(out, m)
		}
	}
	return out
}
