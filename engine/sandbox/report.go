package sandbox

import (
	"strings"
)

// Names of the measures a Report lists.
const (
	NoNewPrivs          = "no_new_privs"
	NonDumpable         = "non_dumpable"
	CoreDumpsOff        = "core_dumps_off"
	AddressSpaceLimit   = "address_space_limit"
	CapabilitiesDropped = "capabilities_dropped"
	Seccomp             = "seccomp"
	ExecDenied          = "exec_denied"
	LandlockFS          = "landlock_fs"
	LandlockNet         = "landlock_net"
	LandlockScope       = "landlock_scope"
)

// Measure is one confinement measure and whether it is in force.
type Measure struct {
	Name    string `json:"name"`
	InForce bool   `json:"in_force"`
	Detail  string `json:"detail,omitempty"`
}

// Report lists the measures Enter and Finish tried, in the order they were
// applied, so that a caller can log what confines the engine and what does
// not on this kernel.
type Report struct {
	Measures []Measure `json:"measures"`
}

// String is the report on one line: the measures in force (with their
// detail in parentheses), then the ones not in force and why.
func (r Report) String() string {
	var on, off []string
	for _, m := range r.Measures {
		s := m.Name
		if m.Detail != "" {
			if m.InForce {
				s += "(" + m.Detail + ")"
			} else {
				s += " (" + m.Detail + ")"
			}
		}
		if m.InForce {
			on = append(on, s)
		} else {
			off = append(off, s)
		}
	}
	line := strings.Join(on, " ")
	if len(on) == 0 {
		line = "no measure in force"
	}
	if len(off) > 0 {
		line += "; not in force: " + strings.Join(off, ", ")
	}
	return line
}

// InForce reports whether the named measure is listed and in force.
func (r Report) InForce(name string) bool {
	for _, m := range r.Measures {
		if m.Name == name {
			return m.InForce
		}
	}
	return false
}

func inForce(name, detail string) Measure {
	return Measure{Name: name, InForce: true, Detail: detail}
}

func notInForce(name, detail string) Measure {
	return Measure{Name: name, Detail: detail}
}
