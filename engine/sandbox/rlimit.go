//go:build unix

package sandbox

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// applyRlimits sets the resource limits of the policy. Limits are per
// process and survive execve, so stage 1 sets them once for both stages.
// Hard and soft limits are set alike: the confined process cannot raise them.
func applyRlimits(p Policy) ([]Measure, error) {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return nil, fmt.Errorf("sandbox: setrlimit RLIMIT_CORE: %w", err)
	}
	ms := []Measure{inForce(CoreDumpsOff, "")}
	if p.AddressSpace == 0 {
		return append(ms, notInForce(AddressSpaceLimit, "no limit set")), nil
	}
	var lim unix.Rlimit
	setLimit(&lim.Cur, &lim.Max, p.AddressSpace)
	if err := unix.Setrlimit(unix.RLIMIT_AS, &lim); err != nil {
		return nil, fmt.Errorf("sandbox: setrlimit RLIMIT_AS %d: %w", p.AddressSpace, err)
	}
	return append(ms, inForce(AddressSpaceLimit, fmt.Sprintf("%d bytes", p.AddressSpace))), nil
}

// setLimit sets both limits to v; their type is uint64 on some systems and
// int64 on others (FreeBSD).
func setLimit[T ~int64 | ~uint64](cur, max *T, v uint64) {
	*cur, *max = T(v), T(v)
}
