package lockfile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// ModelMode is the mode of a model file Warden places in its models folder:
// readable by its owner and group, writable by nobody.
const ModelMode = 0o440

// ErrExists is returned by Install when the models folder already holds a
// different file under the name.
var ErrExists = errors.New("a different file already has this name in the models folder")

// Installed is what Install did.
type Installed struct {
	Path   string // the file in the models folder
	Digest Digest // of the bytes in that file
	Copied bool   // false: the folder already held identical bytes
}

// Install copies the open file src into dir under name, so that what is
// pinned is what the folder holds. The bytes are hashed as they are
// written to a temporary file in dir, so the digest returned is that of
// the copy, not of a second read of the source; the copy is synced, made
// read-only (ModelMode) and linked into place, which fails rather than
// replaces when the name is taken. A taken name holding the same bytes is
// success (adding twice is harmless); different bytes are ErrExists. The
// source changing while it is copied (size, mtime or ctime) is an error.
//
// check, if not nil, is run on the finished temporary copy before it is
// given its name (the GGUF checks, say), so that nothing that fails it
// ever appears in dir. progress is as for HashFile.
func Install(ctx context.Context, src *os.File, dir, name string, check func(*os.File, Digest) error, progress func(done int64)) (_ Installed, err error) {
	dst := filepath.Join(dir, name)
	before, err := src.Stat()
	if err != nil {
		return Installed{}, fmt.Errorf("install %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(dir, "."+name+".*.partial")
	if err != nil {
		return Installed{}, fmt.Errorf("install %s: %w", name, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name()) // gone already once linked; harmless then
	}()
	d, err := copyHashing(ctx, tmp, src, progress)
	if err != nil {
		return Installed{}, fmt.Errorf("install %s: copy %s: %w", name, src.Name(), err)
	}
	if err := unchanged(src, before); err != nil {
		return Installed{}, fmt.Errorf("install %s: %w", name, err)
	}
	if err := tmp.Chmod(ModelMode); err != nil {
		return Installed{}, fmt.Errorf("install %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		return Installed{}, fmt.Errorf("install %s: %w", name, err)
	}
	if check != nil {
		if err := check(tmp, d); err != nil {
			return Installed{}, err
		}
	}
	// link, unlike rename, never replaces what is there, with no window
	// between looking and placing.
	if err := os.Link(tmp.Name(), dst); errors.Is(err, fs.ErrExist) {
		return sameAsExisting(ctx, dst, d)
	} else if err != nil {
		return Installed{}, fmt.Errorf("install %s: %w", name, err)
	}
	if err := syncDir(dir); err != nil {
		return Installed{}, fmt.Errorf("install %s: %w", name, err)
	}
	return Installed{Path: dst, Digest: d, Copied: true}, nil
}

// copyHashing copies src from its first byte to dst, hashing the very
// buffers it writes.
func copyHashing(ctx context.Context, dst io.Writer, src *os.File, progress func(done int64)) (Digest, error) {
	h := sha256.New()
	w := io.MultiWriter(dst, h)
	buf := make([]byte, hashBuffer)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return Digest{}, err
		}
		n, err := src.ReadAt(buf, off)
		if _, werr := w.Write(buf[:n]); werr != nil {
			return Digest{}, werr
		}
		off += int64(n)
		if progress != nil && n > 0 {
			progress(off)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Digest{}, err
		}
	}
	return Digest{SHA256: hex.EncodeToString(h.Sum(nil)), Size: off}, nil
}

// unchanged refuses a source that was written to while it was copied: the
// copy could then mix old and new bytes, which nobody reviewed.
func unchanged(src *os.File, before fs.FileInfo) error {
	after, err := src.Stat()
	if err != nil {
		return err
	}
	if after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) || changeTime(after) != changeTime(before) {
		return fmt.Errorf("%s changed while it was copied (size %d → %d, mtime %s → %s); nothing was pinned: add it again once it is complete",
			src.Name(), before.Size(), after.Size(), before.ModTime().UTC().Format(time.RFC3339Nano), after.ModTime().UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// sameAsExisting accepts an existing file at dst only if it holds exactly
// the bytes d describes.
func sameAsExisting(ctx context.Context, dst string, d Digest) (Installed, error) {
	f, err := os.Open(dst)
	if err != nil {
		return Installed{}, fmt.Errorf("install: %w", err)
	}
	defer f.Close()
	have, err := HashFile(ctx, f, nil)
	if err != nil {
		return Installed{}, err
	}
	if have != d {
		return Installed{}, fmt.Errorf("%w: %s (sha256 %s, %d bytes) is not the file being added (sha256 %s, %d bytes); it was left as it is: remove it if no entry needs it, rename the new file, or pin the new file where it lies with --in-place",
			ErrExists, dst, have.SHA256, have.Size, d.SHA256, d.Size)
	}
	return Installed{Path: dst, Digest: d}, nil
}

// syncDir makes a new name in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
