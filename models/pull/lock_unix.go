//go:build unix

package pull

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockPartial takes an exclusive lock on the partial file, so that two
// pulls of the same file cannot interleave their writes into it.
func lockPartial(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("another pull is downloading %s; wait for it to finish", f.Name())
	}
	return err
}
