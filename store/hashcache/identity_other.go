//go:build !(linux || darwin)

package hashcache

import (
	"fmt"
	"os"
	"runtime"
)

// IdentityOf fails where inode and change time are not available: without
// them a cached hash could not be trusted.
func IdentityOf(f *os.File) (Identity, error) {
	return Identity{}, fmt.Errorf("stat %s: file identity is not available on %s", f.Name(), runtime.GOOS)
}
