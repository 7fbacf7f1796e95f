package trust

import (
	"context"
	"fmt"
	"os"

	"github.com/warden-llm/warden/engine/gguf"
	"github.com/warden-llm/warden/models/lockfile"
	"github.com/warden-llm/warden/models/volume"
)

// Verified is what VerifyEntry found out besides whether the file passed.
type Verified struct {
	Warnings  []string         // the protection check's, each with its fix
	Placement volume.Placement // where the file lies; zero if it could not be opened
}

// VerifyEntry runs Choose's checks on the file at path against the pinned
// entry e, hashing in full, never trusting the verified-hash cache: its
// protection on disk, size and SHA-256, and GGUF header. progress, if not
// nil, is called once the file is open with its size and returns the
// lockfile.HashFile progress function to use. The warnings and placement
// are returned even when a later check fails.
func VerifyEntry(ctx context.Context, e lockfile.Entry, path string, progress func(total int64) func(done int64)) (Verified, error) {
	f, real, err := lockfile.OpenModel(path)
	if err != nil {
		return Verified{}, err
	}
	defer f.Close()
	prot, err := lockfile.CheckProtection(f, real, uint32(os.Geteuid()))
	if err != nil {
		return Verified{}, err
	}
	found := Verified{Warnings: prot.Warnings, Placement: Place(f, real, prot)}
	var update func(int64)
	if progress != nil {
		update = progress(fileSize(f))
	}
	d, err := lockfile.HashFile(ctx, f, update)
	if err != nil {
		return found, err
	}
	if err := e.Verify(d); err != nil {
		return found, err
	}
	header, err := gguf.ReadModel(f, d.Size)
	if err != nil {
		return found, fmt.Errorf("not a valid GGUF file: %w", err)
	}
	return found, e.CheckMetadata(lockfile.Describe(header))
}

// StillPinned re-reads the lockfile at lockPath and checks that it still
// pins the loaded model name with the given SHA-256. A model loaded
// unpinned stays when allowUnpinned is set, as it was never pinned.
func StillPinned(lockPath, name, sha256 string, allowUnpinned bool) error {
	lock, err := lockfile.Read(lockPath)
	if err != nil {
		return fmt.Errorf("lockfile unreadable, so nothing is pinned: %w", err)
	}
	entry, err := lock.Lookup(name)
	switch {
	case err != nil && allowUnpinned:
		return nil
	case err != nil:
		return fmt.Errorf("models.lock no longer pins %q", name)
	case entry.SHA256 != sha256:
		return fmt.Errorf("models.lock now pins sha256 %s for %q; the loaded file has %s", entry.SHA256, name, sha256)
	}
	return nil
}
