package lockfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Protection is what CheckProtection found out about a model file that it
// did not refuse.
type Protection struct {
	Path          string   // the file, symbolic links resolved
	ReadOnlyMount bool     // its filesystem is mounted read-only
	Warnings      []string // weaker than recommended, each with its fix
}

// owner is the part of a file's status the checks need.
type owner struct {
	uid  uint32
	mode fs.FileMode
}

// CheckProtection refuses a model file that someone other than uid (the
// user Warden runs as) or root could modify: the file itself, or a folder
// above it that would let them replace it. f must be the open file at
// path, so the checks apply to the very file that is hashed and loaded.
// Folders writable by others are accepted with the sticky bit (as /tmp),
// which stops others from renaming or deleting what they do not own.
func CheckProtection(f *os.File, path string, uid uint32) (Protection, error) {
	p := Protection{Path: path}
	info, err := f.Stat()
	if err != nil {
		return p, fmt.Errorf("check %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return p, fmt.Errorf("model %s is not a regular file (%v)", path, info.Mode().Type())
	}
	o, err := ownerOf(info)
	if err != nil {
		return p, fmt.Errorf("check %s: %w", path, err)
	}
	perm := o.mode.Perm()
	switch {
	case perm&0o022 != 0:
		return p, fmt.Errorf("model %s is writable by group or others (mode %#o): anyone who can write it can change the weights after they are checked; run: chmod 0440 %s",
			path, perm, path)
	case o.uid != uid && o.uid != 0:
		return p, fmt.Errorf("model %s is owned by uid %d, neither root nor the user Warden runs as (uid %d): its owner can rewrite it at any time; run: chown root %s (or the service user)",
			path, o.uid, uid, path)
	}
	if perm&0o004 != 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf(
			"model %s is readable by every user (mode %#o): anyone on this machine can copy the weights; run: chmod 0440 %s and give the service user's group read access",
			path, perm, path))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return p, fmt.Errorf("check %s: %w", path, err)
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		if err := checkFolder(dir, uid); err != nil {
			return p, fmt.Errorf("model %s: %w", path, err)
		}
		if parent := filepath.Dir(dir); parent == dir {
			break
		}
	}
	if p.ReadOnlyMount, err = readOnlyMount(filepath.Dir(abs)); err != nil {
		return p, fmt.Errorf("check %s: %w", path, err)
	}
	return p, nil
}

func checkFolder(dir string, uid uint32) error {
	info, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	o, err := ownerOf(info)
	if err != nil {
		return fmt.Errorf("folder %s: %w", dir, err)
	}
	switch {
	case o.mode.Perm()&0o022 != 0 && o.mode&fs.ModeSticky == 0:
		return fmt.Errorf("folder %s is writable by group or others (mode %#o): they could replace the model; run: chmod go-w %s",
			dir, o.mode.Perm(), dir)
	case o.uid != uid && o.uid != 0:
		return fmt.Errorf("folder %s is owned by uid %d, neither root nor the user Warden runs as (uid %d): its owner could replace the model; run: chown root %s",
			dir, o.uid, uid, dir)
	}
	return nil
}

// OpenModel opens a model file read-only, resolving symbolic links first
// (download caches link names to content-addressed blobs) and refusing a
// link swapped in after that. It returns the resolved path.
func OpenModel(path string) (*os.File, string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, "", fmt.Errorf("open model: %w", err)
	}
	f, err := os.OpenFile(real, os.O_RDONLY|noFollow, 0)
	if err != nil {
		return nil, "", fmt.Errorf("open model: %w", err)
	}
	return f, real, nil
}
