// Package lockfile reads and writes models.lock, the list of model files a
// deployment may load, each pinned by SHA-256 and size the way go.sum pins
// modules. A model whose file does not match its entry is not loaded.
package lockfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Version is the schema version this package reads and writes.
const Version = 1

// File is the parsed lockfile.
type File struct {
	Version int     `yaml:"version"`
	Models  []Entry `yaml:"models"`
}

// Entry pins one model file.
type Entry struct {
	Name         string `yaml:"name"`              // what clients put in "model"
	File         string `yaml:"file"`              // file name, without directories
	SHA256       string `yaml:"sha256"`            // hex digest of the whole file
	Size         int64  `yaml:"size"`              // bytes
	Architecture string `yaml:"architecture"`      // general.architecture
	FileType     string `yaml:"file_type"`         // weight encoding, e.g. Q4_0
	Source       string `yaml:"source"`            // where the file comes from, at a fixed revision
	License      string `yaml:"license,omitempty"` // SPDX identifier
}

// ErrNotPinned is returned by Lookup and Match when no entry applies.
var ErrNotPinned = errors.New("model is not pinned in the lockfile")

// Read parses a lockfile, refusing unknown keys, other schema versions and
// entries missing what verification needs.
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
	if f.Version != Version {
		return nil, fmt.Errorf("lockfile %s has schema version %d; this build reads version %d", path, f.Version, Version)
	}
	seen := map[string]bool{}
	for i, e := range f.Models {
		if err := e.validate(); err != nil {
			return nil, fmt.Errorf("lockfile %s, entry %d: %w", path, i+1, err)
		}
		if seen[e.Name] {
			return nil, fmt.Errorf("lockfile %s: model %q is pinned twice", path, e.Name)
		}
		seen[e.Name] = true
	}
	return &f, nil
}

func (e Entry) validate() error {
	switch {
	case e.Name == "":
		return errors.New("name is empty")
	case e.File == "" || strings.ContainsAny(e.File, `/\`):
		return fmt.Errorf("model %q: file must be a bare file name", e.Name)
	case len(e.SHA256) != sha256.Size*2 || strings.ToLower(e.SHA256) != e.SHA256:
		return fmt.Errorf("model %q: sha256 must be 64 lower-case hex digits", e.Name)
	case e.Size <= 0:
		return fmt.Errorf("model %q: size must be positive", e.Name)
	}
	if _, err := hex.DecodeString(e.SHA256); err != nil {
		return fmt.Errorf("model %q: sha256: %w", e.Name, err)
	}
	return nil
}

// Write stores f sorted by name, so that diffs stay small and stable.
func Write(path string, f *File) error {
	f.Version = Version
	slices.SortFunc(f.Models, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	var buf bytes.Buffer
	buf.WriteString("# models.lock: the model files this deployment may load, pinned by SHA-256.\n")
	buf.WriteString("# Review a model before adding it; a file that differs from its entry is refused.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("encode lockfile: %w", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write lockfile: %w", err)
	}
	return nil
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

// Digest is a file's SHA-256 and size.
type Digest struct {
	SHA256 string
	Size   int64
}

// Hash reads the whole file and returns its digest.
func Hash(path string) (Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return Digest{}, fmt.Errorf("hash: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Digest{}, fmt.Errorf("hash %s: %w", path, err)
	}
	return Digest{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
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
