//go:build linux || darwin

package lockfile

import (
	"fmt"
	"io/fs"
	"syscall"
)

const noFollow = syscall.O_NOFOLLOW

func ownerOf(info fs.FileInfo) (owner, error) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return owner{}, fmt.Errorf("no owner information for %s", info.Name())
	}
	return owner{uid: st.Uid, mode: info.Mode()}, nil
}

// readOnlyMount reports whether dir's filesystem is mounted read-only.
// ST_RDONLY (Linux) and MNT_RDONLY (macOS) are both bit 0 of the flags.
func readOnlyMount(dir string) (bool, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return false, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return uint64(st.Flags)&1 != 0, nil
}
