// Package lockfile reads and writes models.lock, the list of model files a
// deployment may load, each pinned by SHA-256 and size the way go.sum pins
// modules, together with what was reviewed before it was approved: its
// metadata, where it came from, its license and who approved it. It also
// holds the checks a model file passes before it is loaded: the hash, the
// header against the entry, and the file's protection on disk.
//
// The schema is documented in docs/models-lock.md.
package lockfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Version is the newest schema version this package reads and writes.
// Version 1 files (a subset of version 2: no parameters, context length,
// publisher, chat template hash or approval) are read as version 2 and
// upgraded on write. Version 3 adds an entry's path (a model pinned where
// it lies, see "warden models add --in-place"); Write uses it only for a
// file that has such an entry, so that lockfiles without one stay readable
// by builds that know version 2 only.
const Version = 3

// versionNoPath is the version written when no entry records a path.
const versionNoPath = 2

// File is the parsed lockfile.
type File struct {
	Version int     `yaml:"version"`
	Models  []Entry `yaml:"models"`
}

// Entry pins one model file. Name, File, SHA256 and Size are required;
// the rest records the review and is checked wherever it is set.
type Entry struct {
	Name   string `yaml:"name"`   // what clients put in "model"
	File   string `yaml:"file"`   // file name, without directories
	SHA256 string `yaml:"sha256"` // hex digest of the whole file
	Size   int64  `yaml:"size"`   // bytes

	// Path, if set, is the absolute path the file is served from, in place
	// of the data directory's models folder; its base name is File.
	Path string `yaml:"path,omitempty"`

	// What the GGUF header says; serve refuses a file that contradicts it.
	Architecture       string `yaml:"architecture,omitempty"`         // general.architecture
	Parameters         uint64 `yaml:"parameters,omitempty"`           // elements in all tensors
	FileType           string `yaml:"file_type,omitempty"`            // weight encoding, e.g. Q4_K_M
	ContextLength      uint64 `yaml:"context_length,omitempty"`       // training context, in tokens
	ChatTemplateSHA256 string `yaml:"chat_template_sha256,omitempty"` // of tokenizer.chat_template, or "none"

	// Provenance and approval.
	Source     string `yaml:"source,omitempty"`      // URL or registry reference at an immutable revision
	Publisher  string `yaml:"publisher,omitempty"`   // who published the weights
	License    string `yaml:"license,omitempty"`     // SPDX license expression
	ApprovedBy string `yaml:"approved_by,omitempty"` // who reviewed and approved the file
	ApprovedAt string `yaml:"approved_at,omitempty"` // when, RFC 3339
}

// ErrNotPinned is returned by Lookup and Match when no entry applies.
var ErrNotPinned = errors.New("model is not pinned in the lockfile")

// Read parses a lockfile, refusing unknown keys, unknown schema versions
// and entries that are incomplete or malformed.
func Read(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read lockfile: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parse lockfile %s: %w", path, err)
	}
	if f.Version < 1 || f.Version > Version {
		return nil, fmt.Errorf("lockfile %s has schema version %d; this build reads versions 1 to %d", path, f.Version, Version)
	}
	seen := map[string]bool{}
	for i, e := range f.Models {
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("lockfile %s, entry %d: %w", path, i+1, err)
		}
		if e.Path != "" && f.Version < 3 {
			// An older build would not know the key; a file claiming an
			// older version while using it was not written by Warden.
			return nil, fmt.Errorf("lockfile %s, entry %d: path needs schema version 3, the file says %d", path, i+1, f.Version)
		}
		if seen[e.Name] {
			return nil, fmt.Errorf("lockfile %s: model %q is pinned twice", path, e.Name)
		}
		seen[e.Name] = true
	}
	return &f, nil
}

// Write stores f sorted by name, so that diffs stay small and stable. The
// file is replaced atomically: a reader never sees half a lockfile.
func Write(path string, f *File) error {
	f.Version = versionNoPath
	if slices.ContainsFunc(f.Models, func(e Entry) bool { return e.Path != "" }) {
		f.Version = Version
	}
	slices.SortFunc(f.Models, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	var buf bytes.Buffer
	buf.WriteString("# models.lock: the model files this deployment may load, pinned by SHA-256.\n")
	buf.WriteString("# Review a model before adding it (warden models add); a file that differs\n")
	buf.WriteString("# from its entry is refused. Schema: docs/models-lock.md.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("encode lockfile: %w", err)
	}
	if err := writeAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("write lockfile: %w", err)
	}
	return nil
}

// writeAtomic writes data to a temporary file beside path and renames it
// into place. The lockfile is meant to be committed and read by everyone,
// hence 0644.
func writeAtomic(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Lookup finds the entry for a model name.
func (f *File) Lookup(name string) (Entry, error) {
	for _, e := range f.Models {
		if e.Name == name {
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("%w: no entry named %q", ErrNotPinned, name)
}

// Match finds the entry pinning a file with this digest and base name.
func (f *File) Match(file, sha string) (Entry, error) {
	for _, e := range f.Models {
		if e.SHA256 == sha && e.File == file {
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("%w: no entry has file %q with sha256 %s", ErrNotPinned, file, sha)
}

// Put adds e, replacing the entry of the same name if there is one, which
// it returns.
func (f *File) Put(e Entry) (old Entry, replaced bool) {
	for i, x := range f.Models {
		if x.Name == e.Name {
			f.Models[i] = e
			return x, true
		}
	}
	f.Models = append(f.Models, e)
	return Entry{}, false
}

// Remove deletes the entry named name.
func (f *File) Remove(name string) error {
	i := slices.IndexFunc(f.Models, func(e Entry) bool { return e.Name == name })
	if i < 0 {
		return fmt.Errorf("%w: no entry named %q", ErrNotPinned, name)
	}
	f.Models = slices.Delete(f.Models, i, i+1)
	return nil
}

// Digest is a file's SHA-256 and size.
type Digest struct {
	SHA256 string
	Size   int64
}

// Verify checks that a file's digest is the one e pins, and says what
// differs when it is not.
func (e Entry) Verify(d Digest) error {
	var diffs []string
	if d.Size != e.Size {
		diffs = append(diffs, fmt.Sprintf("size %d, lockfile says %d", d.Size, e.Size))
	}
	if d.SHA256 != e.SHA256 {
		diffs = append(diffs, fmt.Sprintf("sha256 %s, lockfile says %s", d.SHA256, e.SHA256))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("model %q does not match its lockfile entry: %s", e.Name, strings.Join(diffs, "; "))
	}
	return nil
}

// Missing lists the review fields of e that are not filled in. Serving
// does not need them, but an entry without them records less of the
// review than it should.
func (e Entry) Missing() []string {
	var missing []string
	for _, f := range []struct {
		key string
		set bool
	}{
		{"architecture", e.Architecture != ""},
		{"parameters", e.Parameters != 0},
		{"file_type", e.FileType != ""},
		{"context_length", e.ContextLength != 0},
		{"chat_template_sha256", e.ChatTemplateSHA256 != ""},
		{"source", e.Source != ""},
		{"publisher", e.Publisher != ""},
		{"license", e.License != ""},
		{"approved_by", e.ApprovedBy != ""},
		{"approved_at", e.ApprovedAt != ""},
	} {
		if !f.set {
			missing = append(missing, f.key)
		}
	}
	return missing
}

// isHexSHA256 reports whether s is 64 lower-case hex digits.
func isHexSHA256(s string) bool {
	if len(s) != sha256.Size*2 || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// Location is where the file e pins is served from: its recorded path, or
// else its file name in modelsDir (the data directory's models folder).
func (e Entry) Location(modelsDir string) string {
	if e.Path != "" {
		return e.Path
	}
	return filepath.Join(modelsDir, e.File)
}
