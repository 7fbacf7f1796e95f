package audit

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// KeySize is the length of the key files LoadOrCreateKey reads and writes.
const KeySize = 32

// LoadOrCreateKey reads the chain key from path, creating it with KeySize
// random bytes and mode 0600 if it does not exist. It refuses a key file
// that group or others may access, or one of the wrong length: a key
// silently replaced would make the whole log fail verification.
//
// Keep the key away from the database's backups: whoever holds both can
// rewrite the chain.
func LoadOrCreateKey(path string) ([]byte, error) {
	key, err := loadKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := createKey(path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	// Read back what is there now: another process may have won the race.
	return loadKey(path)
}

func loadKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("audit key %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("audit key %s is accessible by group or others (mode %v); run: chmod 600 %s", path, perm, path)
	}
	key, err := io.ReadAll(io.LimitReader(f, KeySize+1))
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("audit key %s: want exactly %d bytes, found %s", path, KeySize, sizeOf(key))
	}
	return key, nil
}

func sizeOf(key []byte) string {
	if len(key) > KeySize {
		return "more"
	}
	return fmt.Sprint(len(key))
}

// createKey writes a new key to a temporary file and links it into place,
// so that path never holds a partial key and an existing one is never
// overwritten.
func createKey(path string) error {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("create audit key: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".audit-key-*") // mode 0600
	if err != nil {
		return fmt.Errorf("create audit key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(key)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create audit key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("create audit key: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
