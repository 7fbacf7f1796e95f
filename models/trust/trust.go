// Package trust decides whether Warden may load a model file. It resolves
// what the operator named (a models.lock name, a .gguf path, or nothing
// for the built-in demo model) to a file and passes it only if every check
// holds: the file's protection on disk, its SHA-256 and size against
// models.lock, and its GGUF header against both the hardened parser and
// the lockfile entry.
//
// Package lockfile holds the lockfile's format and the single checks; this
// package composes them into the policy serve, the admin load endpoint,
// the lockfile reload and "warden models verify" apply. A file that
// passes is held open (see Choice.LoadPath), so that what loads is what
// was hashed.
package trust

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/warden-llm/warden/engine/gguf"
	"github.com/warden-llm/warden/models/lockfile"
	"github.com/warden-llm/warden/models/volume"
	"github.com/warden-llm/warden/store"
	"github.com/warden-llm/warden/store/hashcache"
)

// Request is what a caller asks Choose for.
type Request struct {
	Model         string               // a lockfile name, a .gguf path, or "" for the demo model
	LockPath      string               // models.lock
	AllowUnpinned bool                 // load a file the lockfile does not pin (development only)
	Reverify      bool                 // hash in full even if the hash cache knows the file
	Require       []volume.Requirement // models.require: where the file must lie
}

// Choice is a model file that passed every check. It holds the file open:
// the loader is handed that open file (see LoadPath), so what loads is
// what was hashed even if the path is swapped in between. Release it once
// the model is loaded.
type Choice struct {
	Name     string // the lockfile entry's name, or the file's base name if unpinned
	Path     string // the file as resolved on disk, for people to read
	SHA256   string
	Unpinned bool // loaded under AllowUnpinned; the audit log records it
	file     *os.File
	identity hashcache.Identity
}

// LoadPath is the path to give the loader. On Linux it is the open file's
// /proc/self/fd entry, which reopens that very inode whatever has become
// of its name since.
func (c *Choice) LoadPath() string {
	if c.file != nil && runtime.GOOS == "linux" {
		return "/proc/self/fd/" + strconv.Itoa(int(c.file.Fd()))
	}
	return c.Path
}

// File is the open file that was hashed, until Release; nil for a choice
// made without one. An engine process is handed this descriptor, so that
// what it loads is what was verified.
func (c *Choice) File() *os.File { return c.file }

// CheckUnchanged confirms, after the load, that the file still has the
// identity it had when hashed (device, inode, size, mtime): a write during
// the load would change its mtime or size. The ctime is left out because a
// rename over the old name or a chmod moves it without touching the
// content. Where the loader was given the path rather than the open file,
// the path must still name the hashed file too. The load maps the file, so
// a later write would be seen as well; the file's protection (see
// lockfile.CheckProtection) is what forbids that.
func (c *Choice) CheckUnchanged() error {
	if c.file == nil {
		return nil
	}
	now, err := hashcache.IdentityOf(c.file)
	if err != nil {
		return err
	}
	if !sameContent(now, c.identity) {
		return fmt.Errorf("model %q (%s) changed while it was loading: size %d → %d, mtime %s → %s; refusing to serve it",
			c.Name, c.Path, c.identity.Size, now.Size,
			time.Unix(0, c.identity.MtimeNS).UTC().Format(time.RFC3339Nano), time.Unix(0, now.MtimeNS).UTC().Format(time.RFC3339Nano))
	}
	if c.LoadPath() != c.Path {
		return nil
	}
	f, err := os.Open(c.Path)
	if err != nil {
		return fmt.Errorf("model %q: %w", c.Name, err)
	}
	defer f.Close()
	if named, err := hashcache.IdentityOf(f); err != nil || !sameContent(named, c.identity) {
		return fmt.Errorf("model %q: %s was replaced while it was loading; refusing to serve it", c.Name, c.Path)
	}
	return nil
}

// sameContent compares the parts of two identities that a change of
// content moves.
func sameContent(a, b hashcache.Identity) bool {
	return a.Dev == b.Dev && a.Ino == b.Ino && a.Size == b.Size && a.MtimeNS == b.MtimeNS
}

// Release closes the file once the loader has its own mapping.
func (c *Choice) Release() {
	if c.file != nil {
		c.file.Close()
		c.file = nil
	}
}

// Choose resolves req.Model to a file and checks it: its protection on
// disk, its SHA-256 and size against the lockfile, and its GGUF header
// against both the hardened parser and the entry. An empty req.Model means
// the built-in demo model, which is written into dir's models folder on
// first use. Hashes are cached in dir's verified-hash cache unless
// req.Reverify is set.
func Choose(ctx context.Context, req Request, dir store.Dir, log *slog.Logger) (*Choice, error) {
	lock, err := lockfile.Read(req.LockPath)
	if err != nil {
		if !req.AllowUnpinned {
			return nil, fmt.Errorf("%w\n(run from the directory holding models.lock, or pass --lock FILE)", err)
		}
		log.Warn("no usable lockfile: every model is unpinned", "err", err)
		lock = &lockfile.File{}
	}
	v := &verifier{lock: lock, lockPath: req.LockPath, allowUnpinned: req.AllowUnpinned, reverify: req.Reverify,
		require: req.Require, log: log}
	v.cache = openHashCache(ctx, dir, log)
	if v.cache != nil {
		defer v.cache.Close() // needed only while verifying
	}

	if req.Model == "" || req.Model == DemoName {
		path, entry, err := ensureDemo(lock, dir, req.AllowUnpinned, log)
		if err != nil {
			return nil, err
		}
		return v.check(ctx, path, entry)
	}
	if !LooksLikePath(req.Model) {
		entry, err := lock.Lookup(req.Model)
		if err != nil {
			return nil, fmt.Errorf("--model %q: %w (pass a .gguf path, or pin the model in %s)", req.Model, err, req.LockPath)
		}
		models, err := dir.Models()
		if err != nil {
			return nil, err
		}
		c, err := v.check(ctx, entry.Location(models), &entry)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w (--model %s serves the pinned file from %s: restore the approved file there with warden models add, or pass its path)",
				err, req.Model, entry.Location(models))
		}
		return c, err
	}
	return v.check(ctx, req.Model, nil)
}

// openHashCache opens the verified-hash cache. Without it every start
// hashes in full, which is slower but as safe, so failure is only logged.
func openHashCache(ctx context.Context, dir store.Dir, log *slog.Logger) *hashcache.Cache {
	c, err := hashcache.Open(ctx, filepath.Join(dir.Path(), hashcache.FileName))
	if err != nil {
		log.Warn("verified-hash cache unavailable: hashing the model in full", "err", err)
		return nil
	}
	return c
}

// LooksLikePath tells a file argument from a lockfile name.
func LooksLikePath(arg string) bool {
	return strings.ContainsRune(arg, filepath.Separator) || strings.HasSuffix(arg, ".gguf")
}

// verifier runs the checks of Choose on one file.
type verifier struct {
	lock          *lockfile.File
	lockPath      string
	allowUnpinned bool
	reverify      bool
	require       []volume.Requirement
	cache         *hashcache.Cache // nil: always hash
	log           *slog.Logger
}

// check verifies the file at path against want, or, when want is nil,
// against whichever entry pins a file of that name.
func (v *verifier) check(ctx context.Context, path string, want *lockfile.Entry) (_ *Choice, err error) {
	f, real, err := lockfile.OpenModel(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	prot, err := lockfile.CheckProtection(f, real, uint32(os.Geteuid()))
	if err != nil {
		return nil, fmt.Errorf("refusing %s: %w", path, err)
	}
	for _, w := range prot.Warnings {
		v.log.Warn(w)
	}
	// Before hashing: a file in the wrong place is refused without reading it.
	place := Place(f, real, prot)
	if err := place.Check(real, v.require); err != nil {
		return nil, fmt.Errorf("refusing to load: %w", err)
	}
	sum, err := v.hash(ctx, f, path)
	if err != nil {
		return nil, err
	}
	digest := lockfile.Digest{SHA256: sum.SHA256, Size: sum.Identity.Size}
	entry, err := v.entryFor(path, want, digest)
	if err != nil {
		return nil, err
	}
	header, err := gguf.ReadModel(f, digest.Size)
	if err != nil {
		return nil, fmt.Errorf("refusing %s: not a valid GGUF file: %w", path, err)
	}
	choice := &Choice{Name: entry.Name, Path: real, SHA256: digest.SHA256, file: f, identity: sum.Identity}
	if entry.SHA256 == "" {
		choice.Unpinned = true
		v.log.Warn("LOADING AN UNPINNED MODEL (--allow-unpinned): nothing checks that these weights were approved",
			"model", entry.Name, "path", real, "sha256", digest.SHA256)
	} else if err := entry.CheckMetadata(lockfile.Describe(header)); err != nil {
		return nil, fmt.Errorf("refusing %s: %w; if the entry is wrong, review the model and pin it again with: warden models add --lock %s %s",
			path, err, v.lockPath, path)
	}
	v.log.Info("model verified", "model", entry.Name, "path", real, "sha256", digest.SHA256,
		"hash_cached", sum.Cached, "read_only_mount", place.ReadOnlyMount, "encrypted_volume", place.Encryption.String(), "pinned", !choice.Unpinned)
	return choice, nil
}

// Place tells where the open file f, resolved to real, lies: on a
// read-only mount (as CheckProtection found) and on an encrypted volume.
func Place(f *os.File, real string, prot lockfile.Protection) volume.Placement {
	return volume.Placement{ReadOnlyMount: prot.ReadOnlyMount, Encryption: volume.System().Probe(f, real)}
}

// hash returns the file's SHA-256, from the cache when it can, logging
// progress on a large file.
func (v *verifier) hash(ctx context.Context, f *os.File, path string) (hashcache.Result, error) {
	full := func(ctx context.Context, f *os.File) (string, error) {
		start := time.Now()
		d, err := lockfile.HashFile(ctx, f, logProgress(v.log, path, fileSize(f)))
		if err != nil {
			return "", err
		}
		v.log.Info("hashed model", "path", path, "bytes", d.Size, "seconds", time.Since(start).Seconds())
		return d.SHA256, nil
	}
	if v.cache == nil {
		id, err := hashcache.IdentityOf(f)
		if err != nil {
			return hashcache.Result{}, err
		}
		sum, err := full(ctx, f)
		return hashcache.Result{SHA256: sum, Identity: id}, err
	}
	return v.cache.Sum(ctx, f, full, v.reverify)
}

// entryFor finds the lockfile entry for the file and checks the digest
// against it. An unpinned file allowed by AllowUnpinned gets an entry
// with only a name.
func (v *verifier) entryFor(path string, want *lockfile.Entry, d lockfile.Digest) (lockfile.Entry, error) {
	fix := fmt.Sprintf("if this file is a reviewed update, pin it again with: warden models add --lock %s %s; otherwise restore the approved file", v.lockPath, path)
	if want != nil {
		if err := want.Verify(d); err != nil {
			return lockfile.Entry{}, fmt.Errorf("refusing %s: %w (%s)", path, err, fix)
		}
		return *want, nil
	}
	base := filepath.Base(path)
	if entry, err := v.lock.Match(base, d.SHA256); err == nil {
		return entry, entry.Verify(d)
	}
	for _, e := range v.lock.Models {
		if e.File == base { // pinned, but this file differs from the approved one
			if err := e.Verify(d); err != nil {
				return lockfile.Entry{}, fmt.Errorf("refusing %s: %w (%s)", path, err, fix)
			}
		}
	}
	if !v.allowUnpinned {
		return lockfile.Entry{}, fmt.Errorf("refusing %s: %w: sha256 %s, size %d; review the model, then pin it with: warden models add --lock %s %s (or, for development only, pass --allow-unpinned)",
			path, lockfile.ErrNotPinned, d.SHA256, d.Size, v.lockPath, path)
	}
	return lockfile.Entry{Name: strings.TrimSuffix(base, filepath.Ext(base))}, nil
}

func fileSize(f *os.File) int64 {
	info, err := f.Stat()
	if err != nil {
		return 0
	}
	return info.Size()
}

// logProgress returns a HashFile progress function that logs a line every
// few seconds, so that a long hash does not look like a hang.
func logProgress(log *slog.Logger, path string, total int64) func(int64) {
	const every = 5 * time.Second
	next := time.Now().Add(every)
	return func(done int64) {
		if now := time.Now(); now.After(next) {
			next = now.Add(every)
			log.Info("hashing model", "path", path, "percent", percent(done, total), "bytes", done, "of", total)
		}
	}
}

func percent(done, total int64) int {
	if total <= 0 {
		return 100
	}
	return int(done * 100 / total)
}
