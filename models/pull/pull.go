package pull

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/warden-llm/warden/engine/gguf"
	"github.com/warden-llm/warden/models/lockfile"
)

// Request is one pull.
type Request struct {
	Source    Source          // at any revision; resolved to a commit first
	ModelsDir string          // where the file is placed
	Pinned    *lockfile.Entry // the lockfile's entry for the name, if any
	// Progress, if set, is called once the size is known and returns the
	// function that is told how many bytes are on disk.
	Progress func(total int64) func(done int64)
	Log      *slog.Logger
}

// Result is a verified file in the models folder.
type Result struct {
	Source  Source // at the commit
	Path    string
	Digest  lockfile.Digest
	License string // from the Hub's model card, as written there
	Header  *gguf.File
	Existed bool // the same file was already in place
}

// Pull resolves the revision, downloads the file and moves it into the
// models folder, read-only, only if its size and SHA-256 equal the Hub's
// LFS metadata and the lockfile's pin, and Warden's GGUF check accepts it.
func (c *Client) Pull(ctx context.Context, r Request) (Result, error) {
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	info, err := c.Info(ctx, r.Source)
	if err != nil {
		return Result{}, err
	}
	src := r.Source.At(info.Commit)
	log.Info("resolved revision", "source", r.Source.String(), "commit", info.Commit, "sha256", info.SHA256, "size", info.Size)
	res := Result{Source: src, License: info.License, Path: filepath.Join(r.ModelsDir, src.File())}

	// The Hub and the lockfile must agree before a byte is downloaded:
	// a pin the Hub no longer serves is never silently replaced.
	if r.Pinned != nil && (r.Pinned.SHA256 != info.SHA256 || r.Pinned.Size != info.Size) {
		return Result{}, fmt.Errorf("%w: the Hub's LFS metadata for %s says sha256 %s, %d bytes; the lockfile pins %q as sha256 %s, %d bytes; "+
			"nothing was downloaded (review the new file and pull it under another name, or remove the old entry first)",
			ErrMismatch, src, info.SHA256, info.Size, r.Pinned.Name, r.Pinned.SHA256, r.Pinned.Size)
	}
	if d, ok := existing(res.Path); ok {
		if d.SHA256 != info.SHA256 || d.Size != info.Size {
			return Result{}, fmt.Errorf("%s already exists with sha256 %s, %d bytes, not the Hub's %s, %d bytes; move it away first",
				res.Path, d.SHA256, d.Size, info.SHA256, info.Size)
		}
		hdr, err := gguf.OpenModel(res.Path)
		if err != nil {
			return Result{}, fmt.Errorf("%s is not a model Warden can load: %w", res.Path, err)
		}
		res.Digest, res.Header, res.Existed = d, hdr, true
		return res, nil
	}

	tmp := filepath.Join(r.ModelsDir, "."+src.File()+"."+info.SHA256[:16]+".partial")
	var progress func(int64)
	if r.Progress != nil {
		progress = r.Progress(info.Size)
	}
	sum, size, err := c.download(ctx, src, tmp, info.Size, progress, log)
	if err != nil {
		return Result{}, err // the partial file stays, for the next run to resume
	}
	got := lockfile.Digest{SHA256: sum, Size: size}
	if err := compare(got, info, r.Pinned); err != nil {
		os.Remove(tmp)
		return Result{}, fmt.Errorf("%s: %w; the download was deleted", src, err)
	}
	hdr, err := gguf.OpenModel(tmp)
	if err != nil {
		os.Remove(tmp)
		return Result{}, fmt.Errorf("%s matches the Hub's digest but is not a model Warden can load (deleted): %w", src, err)
	}
	if err := place(tmp, res.Path); err != nil {
		os.Remove(tmp)
		return Result{}, err
	}
	res.Digest, res.Header = got, hdr
	return res, nil
}

// ErrMismatch is wrapped by every error about bytes that differ from what
// the Hub or the lockfile says they should be.
var ErrMismatch = errors.New("digest mismatch")

// compare checks the download against the Hub's LFS metadata and the pin,
// and names every party that disagrees with the bytes.
func compare(got lockfile.Digest, hub Info, pin *lockfile.Entry) error {
	var diffs []string
	if got.SHA256 != hub.SHA256 || got.Size != hub.Size {
		diffs = append(diffs, fmt.Sprintf("the Hub's LFS metadata says sha256 %s, %d bytes", hub.SHA256, hub.Size))
	}
	if pin != nil && (got.SHA256 != pin.SHA256 || got.Size != pin.Size) {
		diffs = append(diffs, fmt.Sprintf("the lockfile pins %q as sha256 %s, %d bytes", pin.Name, pin.SHA256, pin.Size))
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: the downloaded file has sha256 %s, %d bytes, but %s", ErrMismatch, got.SHA256, got.Size, strings.Join(diffs, ", and "))
}

// existing hashes a file already at path.
func existing(path string) (lockfile.Digest, bool) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return lockfile.Digest{}, false
	}
	d, err := lockfile.Hash(path)
	if err != nil {
		return lockfile.Digest{SHA256: "unreadable: " + err.Error()}, true
	}
	return d, true
}

// place makes the verified file read-only and renames it into place,
// refusing to overwrite anything that appeared meanwhile.
func place(tmp, path string) error {
	if err := os.Chmod(tmp, 0o440); err != nil {
		return fmt.Errorf("protect %s: %w", tmp, err)
	}
	// Link then remove, rather than rename: rename would replace a file
	// that another process put at path since we looked.
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("place %s: %w", path, err)
	}
	return os.Remove(tmp)
}
