//go:build !linux

package runner

import "syscall"

// sysProcAttr puts the engine process in its own process group; other
// systems have no network namespaces, so isolate changes nothing.
func sysProcAttr(bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
