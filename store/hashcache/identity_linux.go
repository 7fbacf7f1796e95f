package hashcache

import (
	"fmt"
	"os"
	"syscall"
)

// IdentityOf returns the identity of the open file f.
func IdentityOf(f *os.File) (Identity, error) {
	info, err := f.Stat()
	if err != nil {
		return Identity{}, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return Identity{}, fmt.Errorf("stat %s: no inode information", f.Name())
	}
	return Identity{
		Dev:     uint64(st.Dev),
		Ino:     st.Ino,
		Size:    st.Size,
		MtimeNS: st.Mtim.Nano(),
		CtimeNS: st.Ctim.Nano(),
	}, nil
}
