package docbase

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// Compartment is where a document lives: a team and project, or the
// personal compartment of a subject whose token carries neither. It is a
// value the server derives from the verified token; the zero Compartment
// is refused, so there is no global compartment.
type Compartment struct {
	Team    string `json:"team,omitempty"`
	Project string `json:"project,omitempty"`
	// Subject is set only for a personal compartment.
	Subject string `json:"subject,omitempty"`
}

// TeamCompartment is the compartment of a team and project; either may be
// empty, not both.
func TeamCompartment(team, project string) Compartment {
	return Compartment{Team: team, Project: project}
}

// PersonalCompartment is the compartment of a subject with no team or
// project.
func PersonalCompartment(subject string) Compartment {
	return Compartment{Subject: subject}
}

// ErrNoCompartment is returned for the zero or a malformed Compartment.
var ErrNoCompartment = errors.New("docbase: no compartment")

// Personal reports whether c is a subject's personal compartment.
func (c Compartment) Personal() bool { return c.Subject != "" }

func (c Compartment) String() string {
	if c.Personal() {
		return fmt.Sprintf("personal %q", c.Subject)
	}
	return fmt.Sprintf("team %q project %q", c.Team, c.Project)
}

// check refuses the zero compartment and one mixing a subject with a team
// or project, which would make "personal" ambiguous.
func (c Compartment) check() error {
	switch {
	case c.Subject != "" && (c.Team != "" || c.Project != ""):
		return fmt.Errorf("%w: a personal compartment has no team or project", ErrNoCompartment)
	case c.Subject == "" && c.Team == "" && c.Project == "":
		return ErrNoCompartment
	}
	return nil
}

// scope is a checked compartment as the database holds it.
type scope struct {
	key  string // canonical JSON, stored in the compartment columns
	hash string // hex SHA-256 of key: vec0 partition value and FTS token
}

func (c Compartment) scope() (scope, error) {
	if err := c.check(); err != nil {
		return scope{}, err
	}
	// json.Marshal of a struct writes fields in declaration order and
	// escapes every string, so distinct compartments get distinct keys.
	b, err := json.Marshal(c)
	if err != nil {
		return scope{}, fmt.Errorf("encode compartment: %w", err)
	}
	sum := sha256.Sum256(b)
	return scope{key: string(b), hash: hex.EncodeToString(sum[:])}, nil
}

// ftsTable is the name of the compartment's FTS5 table: hex only, so it
// is safe to splice into SQL, and 128 bits of the hash, so names do not
// collide.
func (s scope) ftsTable() string { return "fts_" + s.hash[:32] }

func parseCompartment(key string) (Compartment, error) {
	var c Compartment
	if err := json.Unmarshal([]byte(key), &c); err != nil {
		return Compartment{}, fmt.Errorf("stored compartment %q: %w", key, err)
	}
	return c, nil
}
