package trust

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/warden-llm/warden/models/lockfile"
	"github.com/warden-llm/warden/models/testmodel"
	"github.com/warden-llm/warden/store"
)

// DemoName is the lockfile name of the built-in demo model, which Choose
// serves when no model is named.
const DemoName = "warden-demo"

// demoMode is the demo model's mode: private to Warden's user and group,
// like any model file should be.
const demoMode = 0o440

// ensureDemo writes the demo model if needed and returns its path and
// entry (nil when the lockfile does not pin it, which AllowUnpinned
// permits). The writer is deterministic, so a file that differs from its
// pin (an older Warden's, or a damaged one) is rewritten once; if it still
// differs, this build's writer disagrees with the lockfile and the check
// that follows says so.
func ensureDemo(lock *lockfile.File, dir store.Dir, allowUnpinned bool, log *slog.Logger) (string, *lockfile.Entry, error) {
	models, err := dir.Models()
	if err != nil {
		return "", nil, err
	}
	path := filepath.Join(models, DemoName+".gguf")
	entry, lookupErr := lock.Lookup(DemoName)
	if lookupErr != nil && !allowUnpinned {
		return "", nil, fmt.Errorf("demo model: %w", lookupErr)
	}
	digest, err := lockfile.Hash(path)
	stale := err == nil && lookupErr == nil && entry.Verify(digest) != nil
	if errors.Is(err, os.ErrNotExist) || stale {
		log.Info("writing the demo model", "path", path)
		if _, _, err := testmodel.WriteFile(path, testmodel.Demo()); err != nil {
			return "", nil, fmt.Errorf("write demo model: %w", err)
		}
	} else if err != nil {
		return "", nil, fmt.Errorf("demo model: %w", err)
	}
	if err := os.Chmod(path, demoMode); err != nil {
		return "", nil, fmt.Errorf("demo model: %w", err)
	}
	if lookupErr != nil {
		return path, nil, nil
	}
	return path, &entry, nil
}
