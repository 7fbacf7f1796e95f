package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/warden-llm/warden/engine/lockfile"
	"github.com/warden-llm/warden/engine/testmodel"
	"github.com/warden-llm/warden/store"
)

// demoName is the lockfile name of the built-in demo model.
const demoName = "warden-demo"

// modelChoice is a model file that passed the lockfile check.
type modelChoice struct {
	name   string
	path   string
	sha256 string
}

// chooseModel resolves --model to a file and checks it against the lockfile.
// An empty arg means the built-in demo model, which is written into the data
// directory on first use.
func chooseModel(arg, lockPath string, dir store.Dir, allowUnpinned bool, log *slog.Logger) (modelChoice, error) {
	lock, err := lockfile.Read(lockPath)
	if err != nil {
		if !allowUnpinned {
			return modelChoice{}, fmt.Errorf("%w\n(run from the directory holding models.lock, or pass --lock FILE)", err)
		}
		log.Warn("no usable lockfile: every model is unpinned", "err", err)
		lock = &lockfile.File{}
	}

	if arg == "" || arg == demoName {
		return chooseDemo(lock, dir, allowUnpinned, log)
	}
	if !looksLikePath(arg) {
		entry, err := lock.Lookup(arg)
		if err != nil {
			return modelChoice{}, fmt.Errorf("--model %q: %w (pass a .gguf path, or pin the model in %s)", arg, err, lockPath)
		}
		models, err := dir.Models()
		if err != nil {
			return modelChoice{}, err
		}
		return checkPinned(entry, filepath.Join(models, entry.File))
	}

	digest, err := lockfile.Hash(arg)
	if err != nil {
		return modelChoice{}, fmt.Errorf("--model: %w", err)
	}
	base := filepath.Base(arg)
	if entry, err := lock.Match(base, digest.SHA256); err == nil {
		return modelChoice{name: entry.Name, path: arg, sha256: digest.SHA256}, entry.Verify(digest)
	}
	for _, e := range lock.Models {
		if e.File == base { // pinned, but this file differs from the approved one
			if err := e.Verify(digest); err != nil {
				return modelChoice{}, fmt.Errorf("refusing %s: %w", arg, err)
			}
		}
	}
	if !allowUnpinned {
		return modelChoice{}, fmt.Errorf("refusing %s: %w: sha256 %s, size %d; review the model, then pin it in %s (or, for development only, pass --allow-unpinned)",
			arg, lockfile.ErrNotPinned, digest.SHA256, digest.Size, lockPath)
	}
	name := strings.TrimSuffix(base, filepath.Ext(base))
	log.Warn("LOADING AN UNPINNED MODEL (--allow-unpinned): nothing checks that these weights were approved",
		"model", name, "path", arg, "sha256", digest.SHA256)
	return modelChoice{name: name, path: arg, sha256: digest.SHA256}, nil
}

// chooseDemo writes the demo model if needed and checks it like any other.
// The writer is deterministic, so a file that differs from its pin (an older
// Warden's, or a damaged one) is rewritten once; if it still differs, this
// build's writer disagrees with the lockfile and that is an error.
func chooseDemo(lock *lockfile.File, dir store.Dir, allowUnpinned bool, log *slog.Logger) (modelChoice, error) {
	models, err := dir.Models()
	if err != nil {
		return modelChoice{}, err
	}
	path := filepath.Join(models, demoName+".gguf")
	entry, lookupErr := lock.Lookup(demoName)
	if lookupErr != nil && !allowUnpinned {
		return modelChoice{}, fmt.Errorf("demo model: %w", lookupErr)
	}
	digest, err := lockfile.Hash(path)
	stale := err == nil && lookupErr == nil && entry.Verify(digest) != nil
	if errors.Is(err, os.ErrNotExist) || stale {
		log.Info("writing the demo model", "path", path)
		sum, size, werr := testmodel.WriteFile(path, testmodel.Demo())
		if werr != nil {
			return modelChoice{}, fmt.Errorf("write demo model: %w", werr)
		}
		digest, err = lockfile.Digest{SHA256: sum, Size: size}, nil
	}
	if err != nil {
		return modelChoice{}, fmt.Errorf("demo model: %w", err)
	}
	if lookupErr == nil {
		if err := entry.Verify(digest); err != nil {
			return modelChoice{}, fmt.Errorf("demo model written by this build does not match models.lock: %w", err)
		}
	}
	return modelChoice{name: demoName, path: path, sha256: digest.SHA256}, nil
}

// looksLikePath tells a file argument from a lockfile name.
func looksLikePath(arg string) bool {
	return strings.ContainsRune(arg, filepath.Separator) || strings.HasSuffix(arg, ".gguf")
}

// checkPinned verifies the file a lockfile entry names.
func checkPinned(entry lockfile.Entry, path string) (modelChoice, error) {
	digest, err := lockfile.Hash(path)
	if err != nil {
		return modelChoice{}, fmt.Errorf("model %q: %w", entry.Name, err)
	}
	if err := entry.Verify(digest); err != nil {
		return modelChoice{}, fmt.Errorf("refusing %s: %w", path, err)
	}
	return modelChoice{name: entry.Name, path: path, sha256: digest.SHA256}, nil
}
