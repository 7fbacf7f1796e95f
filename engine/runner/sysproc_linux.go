package runner

import (
	"os"
	"syscall"
)

// sysProcAttr kills the engine process if the parent's thread dies and,
// with isolate, starts it in new user and network namespaces: a network
// with nothing in it, not even loopback. The user namespace maps only
// this user, as itself. The engine stays in the parent's process group,
// so that whatever accounts for or signals the group (a terminal, a
// service manager, a benchmark's CPU count) sees it; it ignores the
// signals that stop serve, which drains and then stops it.
func sysProcAttr(isolate bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if isolate {
		a.Cloneflags = syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getuid(), HostID: os.Getuid(), Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getgid(), HostID: os.Getgid(), Size: 1}}
		a.GidMappingsEnableSetgroups = false
	}
	return a
}

// socketpair makes the engine's socket pair, both ends close-on-exec: only
// the end handed over as an extra file reaches the engine process.
func socketpair() ([2]int, error) {
	return syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
}
