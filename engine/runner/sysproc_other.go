//go:build !linux

package runner

import "syscall"

// sysProcAttr has nothing to set here: other systems have no network
// namespaces or death signal, so isolate changes nothing.
func sysProcAttr(bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{}
}

// socketpair makes the engine's socket pair, both ends close-on-exec
// (set under ForkLock, as there is no SOCK_CLOEXEC here): only the end
// handed over as an extra file reaches the engine process.
func socketpair() ([2]int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	return fds, err
}
