package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Role is what a token lets its holder do.
type Role string

const (
	RoleUser    Role = "user"    // query models: the /v1 inference endpoints
	RoleAdmin   Role = "admin"   // configuration, model management, token revocation
	RoleAuditor Role = "auditor" // read the audit log
)

// Roles lists every role, in the order they are documented.
func Roles() []Role { return []Role{RoleUser, RoleAdmin, RoleAuditor} }

// ParseRole accepts one of Roles.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !slices.Contains(Roles(), r) {
		return "", fmt.Errorf("unknown role %q: want user, admin or auditor", s)
	}
	return r, nil
}

// Identity is who a verified token says the caller is, and what it allows.
type Identity struct {
	Subject string
	TokenID string // jti: what revocation names
	Roles   []Role
	Models  []string // when not empty, the only models the caller may use
	// Team and Project are the caller's default team and project: the
	// team and project claims, or else the first entry of the teams and
	// projects lists. Teams and Projects are every team and project the
	// token names, defaults first; a document compartment is one team
	// and one project of these (see docs/auth.md).
	Team      string
	Project   string
	Teams     []string
	Projects  []string
	ExpiresAt time.Time
}

// Has reports whether the identity holds role.
func (id Identity) Has(role Role) bool { return slices.Contains(id.Roles, role) }

// MayUse reports whether the identity's model scope admits model.
func (id Identity) MayUse(model string) bool {
	return len(id.Models) == 0 || slices.Contains(id.Models, model)
}

// Claim names Warden reads beyond the registered ones.
const (
	claimRoles    = "roles"
	claimModels   = "models"
	claimTeam     = "team"
	claimProject  = "project"
	claimTeams    = "teams"
	claimProjects = "projects"
)

// maxNumericDate bounds exp, nbf and iat: year 10000. Anything larger is
// an attack on date arithmetic, not a real date.
const maxNumericDate = 253402300800

// claims is the payload, decoded with exact types before jwx sees it.
type claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	ID        string
	Expiry    int64
	NotBefore int64 // 0: absent
	IssuedAt  int64 // 0: absent
	Roles     []Role
	Models    []string
	Teams     []string // the team claim first, then the teams list
	Projects  []string // likewise for projects
}

// decodeClaims reads the payload strictly: registered claims must have
// their RFC 7519 types, dates must be integers in a sane range, and
// Warden's own claims must be what their names say.
func decodeClaims(payload []byte) (claims, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return claims{}, fmt.Errorf("token payload: %w", err)
	}
	var c claims
	var err error
	str := func(name string, required bool) string {
		v, present := raw[name]
		if err != nil || (!present && !required) {
			return ""
		}
		var s string
		if !present || json.Unmarshal(v, &s) != nil || s == "" || len(s) > maxClaimStrings {
			err = fmt.Errorf("claim %q must be a non-empty string of at most %d bytes", name, maxClaimStrings)
		}
		return s
	}
	date := func(name string, required bool) int64 {
		v, present := raw[name]
		if err != nil || (!present && !required) {
			return 0
		}
		n, ok := integer(v)
		if !present || !ok || n <= 0 || n >= maxNumericDate {
			err = fmt.Errorf("claim %q must be an integer number of seconds since 1970", name)
		}
		return n
	}
	c.Issuer = str("iss", true)
	c.Subject = str("sub", true)
	c.ID = str("jti", true)
	c.Expiry = date("exp", true)
	c.NotBefore = date("nbf", false)
	c.IssuedAt = date("iat", false)
	if err != nil {
		return claims{}, err
	}
	if c.Audience, err = stringOrList(raw["aud"], "aud", true); err != nil {
		return claims{}, err
	}
	if c.Models, err = stringOrList(raw[claimModels], claimModels, false); err != nil {
		return claims{}, err
	}
	if c.Teams, err = memberships(raw, claimTeam, claimTeams); err != nil {
		return claims{}, err
	}
	if c.Projects, err = memberships(raw, claimProject, claimProjects); err != nil {
		return claims{}, err
	}
	names, err := stringOrList(raw[claimRoles], claimRoles, true)
	if err != nil {
		return claims{}, err
	}
	for _, n := range names {
		r, err := ParseRole(n)
		if err != nil {
			return claims{}, fmt.Errorf("claim %q: %w", claimRoles, err)
		}
		c.Roles = append(c.Roles, r)
	}
	return c, nil
}

// memberships reads a team or project claim pair: the single claim (the
// default) first, then the list claim's entries, without repeats.
func memberships(raw map[string]json.RawMessage, single, list string) ([]string, error) {
	var out []string
	if v, ok := raw[single]; ok {
		var s string
		if json.Unmarshal(v, &s) != nil || s == "" || len(s) > maxClaimStrings {
			return nil, fmt.Errorf("claim %q must be a non-empty string of at most %d bytes", single, maxClaimStrings)
		}
		out = append(out, s)
	}
	names, err := stringOrList(raw[list], list, false)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// integer accepts a JSON number written as an integer: no fraction, no
// exponent, no string.
func integer(v json.RawMessage) (int64, bool) {
	s := string(v)
	if s == "" || strings.ContainsAny(s, ".eE\"") {
		return 0, false
	}
	var n int64
	if err := json.Unmarshal(v, &n); err != nil {
		return 0, false
	}
	return n, true
}

// stringOrList reads a claim that is a string or a non-empty list of
// strings, as aud may be.
func stringOrList(v json.RawMessage, name string, required bool) ([]string, error) {
	if v == nil {
		if required {
			return nil, fmt.Errorf("claim %q is required", name)
		}
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(v, &one); err == nil && one != "" && len(one) <= maxClaimStrings {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(v, &list); err != nil || len(list) == 0 || len(list) > 64 {
		return nil, fmt.Errorf("claim %q must be a string or a list of 1 to 64 strings", name)
	}
	for _, s := range list {
		if s == "" || len(s) > maxClaimStrings {
			return nil, fmt.Errorf("claim %q has an empty or overlong entry", name)
		}
	}
	return list, nil
}

// errNoRoles keeps a token that grants nothing from authenticating at all.
var errNoRoles = errors.New("token grants no role")
