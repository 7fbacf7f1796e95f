package lockfile

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// NoChatTemplate is the chat_template_sha256 of a model that embeds no chat
// template, so that "none" and "not recorded" stay distinct.
const NoChatTemplate = "none"

// maxNameLen bounds model names, which clients send in every request.
const maxNameLen = 128

// Validate reports the first problem with e: a missing required field, or
// a review field that is malformed.
func (e Entry) Validate() error {
	if err := validName(e.Name); err != nil {
		return err
	}
	switch {
	case e.File == "" || e.File == "." || e.File == ".." || strings.ContainsAny(e.File, `/\`):
		return fmt.Errorf("model %q: file must be a bare file name", e.Name)
	case !isHexSHA256(e.SHA256):
		return fmt.Errorf("model %q: sha256 must be 64 lower-case hex digits", e.Name)
	case e.Size <= 0:
		return fmt.Errorf("model %q: size must be positive", e.Name)
	case e.Path != "" && (!filepath.IsAbs(e.Path) || filepath.Clean(e.Path) != e.Path):
		return fmt.Errorf("model %q: path %q must be absolute and clean", e.Name, e.Path)
	case e.Path != "" && filepath.Base(e.Path) != e.File:
		return fmt.Errorf("model %q: path %q does not end in the file name %q", e.Name, e.Path, e.File)
	case e.ChatTemplateSHA256 != "" && e.ChatTemplateSHA256 != NoChatTemplate && !isHexSHA256(e.ChatTemplateSHA256):
		return fmt.Errorf("model %q: chat_template_sha256 must be 64 lower-case hex digits or %q", e.Name, NoChatTemplate)
	}
	if ref := MutableRef(e.Source); ref != "" {
		return fmt.Errorf("model %q: source %q names the moving reference %q; pin an immutable revision (a commit hash or digest)",
			e.Name, e.Source, ref)
	}
	if e.License != "" && !ValidLicense(e.License) {
		return fmt.Errorf("model %q: license %q is not an SPDX license expression (e.g. Apache-2.0, MIT OR Apache-2.0)", e.Name, e.License)
	}
	if e.ApprovedAt != "" {
		if _, err := time.Parse(time.RFC3339, e.ApprovedAt); err != nil {
			return fmt.Errorf("model %q: approved_at %q is not an RFC 3339 time such as 2026-01-31T09:00:00Z", e.Name, e.ApprovedAt)
		}
	}
	return nil
}

// validName accepts names that are safe to show, log and match in the
// "model" field of a request, and that cannot be mistaken for a path.
func validName(name string) error {
	if name == "" {
		return errors.New("name is empty")
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("name %.20q… is longer than %d bytes", name, maxNameLen)
	}
	for _, r := range name {
		if !isAlnum(r) && !strings.ContainsRune("._:-", r) {
			return fmt.Errorf("name %q: use letters, digits and . _ : - only", name)
		}
	}
	if strings.HasSuffix(name, ".gguf") {
		return fmt.Errorf("name %q ends in .gguf, which --model reads as a path", name)
	}
	return nil
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// isBranchName reports references that move: a source naming one does not say
// which bytes were reviewed.
func isBranchName(ref string) bool {
	switch strings.ToLower(ref) {
	case "main", "master", "head", "latest", "trunk", "develop", "dev", "stable", "default":
		return true
	}
	return false
}

// MutableRef returns the part of source that names a moving target, or ""
// if it finds none. It catches the obvious cases: Hugging Face file URLs
// whose revision is not a commit hash (/resolve/main/...), @branch
// suffixes and "latest" tags. Anything else is taken on trust: the SHA-256
// pins the bytes either way; the source says where to find them again.
func MutableRef(source string) string {
	lower := strings.ToLower(source)
	for _, marker := range []string{"/resolve/", "/blob/", "/tree/", "/raw/"} {
		if _, rest, ok := strings.Cut(lower, marker); ok {
			rev, _, _ := strings.Cut(rest, "/")
			if !isCommitHash(rev) {
				return marker + rev
			}
		}
	}
	if i := strings.LastIndexByte(lower, '@'); i >= 0 {
		rev, _, _ := strings.Cut(lower[i+1:], "/")
		if isBranchName(rev) {
			return "@" + rev
		}
	}
	for _, word := range strings.FieldsFunc(lower, func(r rune) bool { return !isAlnum(r) }) {
		if word == "latest" {
			return "latest"
		}
	}
	return ""
}

// isCommitHash accepts full git commit ids (SHA-1 or SHA-256).
func isCommitHash(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}

// ValidLicense checks the syntax of an SPDX license expression: license
// ids (including LicenseRef-…) joined by AND, OR and WITH, with optional
// parentheses. It does not check ids against the SPDX list.
func ValidLicense(s string) bool {
	words := strings.Fields(strings.NewReplacer("(", " ", ")", " ").Replace(s))
	if len(words) == 0 || strings.Count(s, "(") != strings.Count(s, ")") {
		return false
	}
	for i, w := range words {
		operator := w == "AND" || w == "OR" || w == "WITH"
		if i%2 == 1 != operator {
			return false
		}
		if !operator && !isLicenseID(w) {
			return false
		}
	}
	return len(words)%2 == 1
}

func isLicenseID(w string) bool {
	w = strings.TrimSuffix(w, "+") // "or later"
	if w == "" || !isAlnum(rune(w[0])) {
		return false
	}
	for _, r := range w {
		if !isAlnum(r) && r != '.' && r != '-' {
			return false
		}
	}
	return true
}
