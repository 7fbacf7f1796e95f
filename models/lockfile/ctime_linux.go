package lockfile

import (
	"io/fs"
	"syscall"
)

// changeTime is a file's ctime in nanoseconds, which every write moves and
// only root can set back.
func changeTime(info fs.FileInfo) int64 {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	return st.Ctim.Nano()
}
