package lockfile

import (
	"context"
	"fmt"
	"io"
	"os"
)

// hashBuffer is the read size while hashing. Large reads keep the number of
// system calls negligible next to SHA-256 itself; beyond a few MiB nothing
// is gained (docs/models-lock.md has the measurements).
const hashBuffer = 4 << 20

// Hash reads the whole file at path and returns its digest.
func Hash(path string) (Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return Digest{}, fmt.Errorf("hash: %w", err)
	}
	defer f.Close()
	return HashFile(context.Background(), f, nil)
}

// HashFile hashes the open file f from its first byte to its end, reading
// at explicit offsets so that f's own offset does not matter. progress, if
// not nil, is called after each read with the bytes hashed so far. A
// cancelled ctx stops the hash between reads.
func HashFile(ctx context.Context, f *os.File, progress func(done int64)) (Digest, error) {
	d, err := copyHashing(ctx, io.Discard, f, progress)
	if err != nil {
		return Digest{}, fmt.Errorf("hash %s: %w", f.Name(), err)
	}
	return d, nil
}
