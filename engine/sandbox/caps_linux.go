package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Securebits (linux/securebits.h), not in x/sys. With them set and locked,
// uid 0 gets no capabilities from execve or from a setuid to or from 0,
// so dropping the capabilities of root sticks.
const (
	secbitNoroot              = 1 << 0
	secbitNorootLocked        = 1 << 1
	secbitNoSetuidFixup       = 1 << 2
	secbitNoSetuidFixupLocked = 1 << 3
	secbitKeepCapsLocked      = 1 << 5

	lockedSecurebits = secbitNoroot | secbitNorootLocked | secbitNoSetuidFixup | secbitNoSetuidFixupLocked | secbitKeepCapsLocked
)

const (
	capSetpcap     = 8
	procCapLastCap = "/proc/sys/kernel/cap_last_cap"
)

// dropCapabilities leaves the calling thread with no capability it could
// use or regain. The order matters: securebits and the bounding set need
// CAP_SETPCAP, so they come before capset takes it away.
func dropCapabilities() (Measure, error) {
	caps, err := capget()
	if err != nil {
		return Measure{}, err
	}
	// Ambient capabilities can be cleared without privilege.
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return Measure{}, fmt.Errorf("capabilities: clear ambient: %w", err)
	}
	if caps.empty() {
		return inForce(CapabilitiesDropped, "no capabilities held"), nil
	}
	detail := "bounding set and ambient cleared, securebits locked, all capabilities dropped"
	if caps.effective(capSetpcap) {
		if err := unix.Prctl(unix.PR_SET_SECUREBITS, lockedSecurebits, 0, 0, 0); err != nil {
			return Measure{}, fmt.Errorf("capabilities: set securebits %#x: %w", lockedSecurebits, err)
		}
		if err := dropBoundingSet(); err != nil {
			return Measure{}, err
		}
	} else {
		// Without CAP_SETPCAP the bounding set stays, which no_new_privs
		// makes harmless: execve cannot raise capabilities.
		detail = "all capabilities dropped (no CAP_SETPCAP: bounding set kept)"
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var none [2]unix.CapUserData
	if err := unix.Capset(&hdr, &none[0]); err != nil {
		return Measure{}, fmt.Errorf("capabilities: capset to none: %w", err)
	}
	return inForce(CapabilitiesDropped, detail), nil
}

// capSets are the capability sets of the calling thread, 64 bits each.
type capSets struct{ eff, prm, inh uint64 }

func capget() (capSets, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return capSets{}, fmt.Errorf("capabilities: capget: %w", err)
	}
	join := func(lo, hi uint32) uint64 { return uint64(hi)<<32 | uint64(lo) }
	return capSets{
		eff: join(data[0].Effective, data[1].Effective),
		prm: join(data[0].Permitted, data[1].Permitted),
		inh: join(data[0].Inheritable, data[1].Inheritable),
	}, nil
}

func (c capSets) empty() bool { return c.eff|c.prm|c.inh == 0 }

func (c capSets) effective(capability int) bool { return c.eff&(1<<capability) != 0 }

// dropBoundingSet empties the bounding set, up to the last capability
// the kernel knows.
func dropBoundingSet() error {
	last, err := capLastCap()
	if err != nil {
		return err
	}
	for c := 0; c <= last; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("capabilities: drop %d from the bounding set: %w", c, err)
		}
	}
	return nil
}

// capLastCap is the highest capability the running kernel knows.
func capLastCap() (int, error) {
	b, err := os.ReadFile(procCapLastCap)
	if err != nil {
		return 0, fmt.Errorf("capabilities: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("capabilities: parse %s: %w", procCapLastCap, err)
	}
	return n, nil
}
