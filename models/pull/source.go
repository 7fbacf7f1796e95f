// Package pull downloads GGUF model files from a Hugging Face–compatible
// Hub: from approved publishers only, at an immutable revision, and
// accepted only when the bytes match the Hub's LFS metadata and, when the
// model is already pinned, the lockfile.
package pull

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Scheme prefixes every source this package understands.
const Scheme = "hf:"

// Source is a file in a Hub repository: hf:ORG/REPO/PATH[@REVISION].
type Source struct {
	Org, Repo string
	Path      string // inside the repository, may contain slashes
	Revision  string // branch, tag or commit; "" means main
}

var (
	// namePart is what the Hub allows in an organisation or repository name.
	namePart   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$`)
	commitHash = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// ParseSource parses hf:ORG/REPO/PATH.gguf[@REVISION].
func ParseSource(s string) (Source, error) {
	rest, ok := strings.CutPrefix(s, Scheme)
	if !ok {
		return Source{}, fmt.Errorf("source %q: want %sORG/REPO/PATH.gguf[@REVISION]", s, Scheme)
	}
	var src Source
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest, src.Revision = rest[:i], rest[i+1:]
		if src.Revision == "" || strings.ContainsAny(src.Revision, "?#\\ ") || strings.Contains(src.Revision, "..") {
			return Source{}, fmt.Errorf("source %q: bad revision %q", s, src.Revision)
		}
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) != 3 {
		return Source{}, fmt.Errorf("source %q: want %sORG/REPO/PATH.gguf[@REVISION]", s, Scheme)
	}
	src.Org, src.Repo, src.Path = parts[0], parts[1], parts[2]
	if !namePart.MatchString(src.Org) || !namePart.MatchString(src.Repo) {
		return Source{}, fmt.Errorf("source %q: organisation and repository must be Hub names", s)
	}
	// The path ends up in a URL and its base name in the models folder:
	// no traversal, no query, nothing but a .gguf file.
	if clean := path.Clean(src.Path); clean != src.Path || strings.HasPrefix(clean, "/") ||
		strings.Contains(clean, "..") || strings.ContainsAny(clean, "?#\\") || !strings.HasSuffix(clean, ".gguf") {
		return Source{}, fmt.Errorf("source %q: path %q must be a clean relative path to a .gguf file", s, src.Path)
	}
	return src, nil
}

// Pinned reports whether the revision is a full commit hash.
func (s Source) Pinned() bool { return commitHash.MatchString(s.Revision) }

// RevisionOrMain is the revision to ask the Hub for.
func (s Source) RevisionOrMain() string {
	if s.Revision == "" {
		return "main"
	}
	return s.Revision
}

// RepoID is ORG/REPO.
func (s Source) RepoID() string { return s.Org + "/" + s.Repo }

// File is the base name the file gets in the models folder.
func (s Source) File() string { return path.Base(s.Path) }

// At returns s at another revision.
func (s Source) At(rev string) Source { s.Revision = rev; return s }

func (s Source) String() string {
	out := Scheme + s.RepoID() + "/" + s.Path
	if s.Revision != "" {
		out += "@" + s.Revision
	}
	return out
}

// Allowed checks the source against the publishers allow-list: patterns
// like hf:Qwen/* or hf:bartowski/Llama-3.2-1B-Instruct-GGUF, matched with
// path.Match against hf:ORG/REPO. An empty list allows nothing, so that a
// fresh install never downloads from anywhere until someone decides whom
// to trust.
func (s Source) Allowed(patterns []string) error {
	id := Scheme + s.RepoID()
	for _, p := range patterns {
		if ok, err := path.Match(p, id); err == nil && ok {
			return nil
		}
	}
	list := "none: the list is empty"
	if len(patterns) > 0 {
		list = strings.Join(patterns, ", ")
	}
	return fmt.Errorf("publisher %s is not an approved model source (models.sources: %s); "+
		"review the publisher, then add a pattern such as %s/* to models.sources or pass --allow-source",
		id, list, Scheme+s.Org)
}
