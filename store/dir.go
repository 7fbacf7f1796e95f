// Package store owns Warden's data directory: where its state lives on
// disk, and how that directory is created and protected.
package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// DefaultDir is the data directory used when none is configured:
// $XDG_STATE_HOME/warden, else ~/.local/state/warden on Unix and
// ~/Library/Application Support/warden on macOS.
func DefaultDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "warden"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find a data directory (set --data-dir): %w", err)
	}
	if runtime.GOOS == "darwin" {
		return filepath.Join(home, "Library", "Application Support", "warden"), nil
	}
	return filepath.Join(home, ".local", "state", "warden"), nil
}

// Dir is an opened data directory.
type Dir struct{ path string }

// OpenDir creates the directory if needed, readable by its owner only,
// and refuses one that others can write to.
func OpenDir(path string) (Dir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return Dir{}, fmt.Errorf("create data directory: %w", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return Dir{}, fmt.Errorf("data directory: %w", err)
	}
	if !info.IsDir() {
		return Dir{}, fmt.Errorf("data directory %s is not a directory", path)
	}
	if info.Mode().Perm()&0o022 != 0 {
		return Dir{}, fmt.Errorf("data directory %s is writable by group or others (mode %v); run: chmod go-w %s",
			path, info.Mode().Perm(), path)
	}
	return Dir{path: path}, nil
}

// Models is the directory for model files Warden writes itself, such as
// the built-in demo model.
func (d Dir) Models() (string, error) {
	p := filepath.Join(d.path, "models")
	if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("create models directory: %w", err)
	}
	return p, nil
}

// Keys is the directory for keys Warden generates itself, such as the
// local token-signing key.
func (d Dir) Keys() (string, error) {
	p := filepath.Join(d.path, "keys")
	if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("create keys directory: %w", err)
	}
	return p, nil
}

// Path is the directory itself.
func (d Dir) Path() string { return d.path }
