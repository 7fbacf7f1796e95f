// Package volume tells where a model file's bytes lie: whether the volume
// holding them is encrypted at rest, and checks the placement an operator
// requires (models.require). It reports what it can prove: a file is
// called encrypted only on evidence (a dm-crypt device under its
// filesystem, an eCryptfs mount, an fscrypt policy), and "unknown" where
// it cannot tell, never "not encrypted" for lack of looking.
package volume

import (
	"fmt"
	"slices"
	"strings"
)

// Encryption is what Probe found out about the volume holding a file.
type Encryption struct {
	Known     bool   // false: Warden could not tell (see Reason)
	Encrypted bool   // only with evidence, named in By
	By        string // e.g. "dm-crypt dm-0 under dm-1", "eCryptfs", "fscrypt"
	Reason    string // why the answer is unknown
}

// String is the answer as the log line and "warden models verify" show it.
func (e Encryption) String() string {
	switch {
	case e.Encrypted:
		return "yes (" + e.By + ")"
	case e.Known:
		return "no"
	default:
		return "unknown (" + e.Reason + ")"
	}
}

// Requirement is a property models.require demands of a model file's
// placement.
type Requirement string

const (
	ReadOnlyMount   Requirement = "read_only_mount"
	EncryptedVolume Requirement = "encrypted_volume"
)

// Requirements lists the values models.require accepts.
func Requirements() []Requirement { return []Requirement{ReadOnlyMount, EncryptedVolume} }

// ParseRequirements checks models.require's values, refusing unknown ones
// with the list, so that a typo never silently drops a requirement.
func ParseRequirements(values []string) ([]Requirement, error) {
	var reqs []Requirement
	for _, v := range values {
		r := Requirement(strings.TrimSpace(v))
		if !slices.Contains(Requirements(), r) {
			return nil, fmt.Errorf("unknown requirement %q: want %s", v, strings.Join(names(), ", "))
		}
		if !slices.Contains(reqs, r) {
			reqs = append(reqs, r)
		}
	}
	return reqs, nil
}

func names() []string {
	var out []string
	for _, r := range Requirements() {
		out = append(out, string(r))
	}
	return out
}

// DocLink is where setting up such a volume is explained.
const DocLink = "docs/models-lock.md#where-the-weights-lie"

// Placement is where a model file lies, as far as the requirements go.
type Placement struct {
	ReadOnlyMount bool
	Encryption    Encryption
}

// Check refuses a placement that lacks a required property, saying which
// and how to fix it. An unknown encryption answer fails encrypted_volume:
// the requirement asks for proof.
func (p Placement) Check(path string, reqs []Requirement) error {
	var missing []string
	for _, r := range reqs {
		switch {
		case r == ReadOnlyMount && !p.ReadOnlyMount:
			missing = append(missing, "read_only_mount: its filesystem is mounted read-write; mount the models folder read-only (e.g. a read-only bind mount)")
		case r == EncryptedVolume && !p.Encryption.Encrypted:
			missing = append(missing, "encrypted_volume: encrypted at rest is "+p.Encryption.String()+"; put the models folder on a LUKS (dm-crypt), fscrypt or eCryptfs volume")
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("model %s lacks what models.require demands: %s (see %s)", path, strings.Join(missing, "; "), DocLink)
}
