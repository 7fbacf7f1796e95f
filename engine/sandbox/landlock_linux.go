package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Landlock access rights, grouped by what the policy grants.
const (
	// fsRightsABI1 are the file system rights Landlock ABI 1 knows; later
	// ABIs add REFER (2), TRUNCATE (3) and IOCTL_DEV (5).
	fsRightsABI1 = unix.LANDLOCK_ACCESS_FS_EXECUTE |
		unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_DIR |
		unix.LANDLOCK_ACCESS_FS_REMOVE_DIR |
		unix.LANDLOCK_ACCESS_FS_REMOVE_FILE |
		unix.LANDLOCK_ACCESS_FS_MAKE_CHAR |
		unix.LANDLOCK_ACCESS_FS_MAKE_DIR |
		unix.LANDLOCK_ACCESS_FS_MAKE_REG |
		unix.LANDLOCK_ACCESS_FS_MAKE_SOCK |
		unix.LANDLOCK_ACCESS_FS_MAKE_FIFO |
		unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK |
		unix.LANDLOCK_ACCESS_FS_MAKE_SYM

	// fileRights are the only rights the kernel accepts in a rule on a
	// file that is not a directory (it returns EINVAL for the others).
	fileRights = unix.LANDLOCK_ACCESS_FS_EXECUTE |
		unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_FILE |
		unix.LANDLOCK_ACCESS_FS_TRUNCATE |
		unix.LANDLOCK_ACCESS_FS_IOCTL_DEV

	readRights   = unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR
	execRights   = readRights | unix.LANDLOCK_ACCESS_FS_EXECUTE
	deviceRights = readRights | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	fdRights     = unix.LANDLOCK_ACCESS_FS_READ_FILE

	// netRights are handled with no rule that grants them: no TCP bind or
	// connect at all.
	netRights = unix.LANDLOCK_ACCESS_NET_BIND_TCP | unix.LANDLOCK_ACCESS_NET_CONNECT_TCP

	// scopes keep the process from signalling, or connecting to abstract
	// Unix sockets of, processes outside its Landlock domain: the parent.
	scopes = unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | unix.LANDLOCK_SCOPE_SIGNAL
)

// The Landlock ABI versions that brought what this package uses.
const (
	abiRefer    = 2
	abiTruncate = 3
	abiNet      = 4
	abiIoctlDev = 5
	abiScope    = 6
)

// landlockABI asks the kernel which Landlock ABI it implements.
func landlockABI() (int, error) {
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0, errno
	}
	return int(v), nil
}

// landlockAbsence says why Landlock is not there, or "" when err means
// something else.
func landlockAbsence(err error) string {
	switch {
	case errors.Is(err, unix.ENOSYS):
		return "kernel lacks Landlock (ENOSYS)"
	case errors.Is(err, unix.EOPNOTSUPP):
		return "Landlock is disabled in this kernel (EOPNOTSUPP)"
	case errors.Is(err, unix.EPERM):
		// Only a seccomp filter this process inherited answers EPERM here:
		// a container runtime's or a systemd unit's (deploy/warden.service
		// allows the calls).
		return "refused by a seccomp filter this process runs under, e.g. a container's or a systemd unit's (EPERM)"
	}
	return ""
}

// handledFS is every file system right the ABI knows: a right left
// unhandled would be allowed everywhere.
func handledFS(abi int) uint64 {
	rights := uint64(fsRightsABI1)
	if abi >= abiRefer {
		rights |= unix.LANDLOCK_ACCESS_FS_REFER
	}
	if abi >= abiTruncate {
		rights |= unix.LANDLOCK_ACCESS_FS_TRUNCATE
	}
	if abi >= abiIoctlDev {
		rights |= unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	}
	return rights
}

// rulesetAttr is the ruleset the ABI supports and the size of its prefix
// of struct landlock_ruleset_attr the kernel knows.
func rulesetAttr(abi int) (unix.LandlockRulesetAttr, uintptr) {
	attr := unix.LandlockRulesetAttr{Access_fs: handledFS(abi)}
	size := unsafe.Offsetof(attr.Access_net)
	if abi >= abiNet {
		attr.Access_net = netRights
		size = unsafe.Offsetof(attr.Scoped)
	}
	if abi >= abiScope {
		attr.Scoped = scopes
		size = unsafe.Sizeof(attr)
	}
	return attr, size
}

// landlockRule grants access beneath a path, or to the file open on fd
// when path is empty.
type landlockRule struct {
	path     string
	fd       int
	access   uint64
	optional bool // a missing path is skipped, not an error
}

func (r landlockRule) String() string {
	if r.path == "" {
		return "fd " + strconv.Itoa(r.fd)
	}
	return r.path
}

// landlockRules turns the policy into rules. pid replaces /proc/self.
func landlockRules(p Policy, pid int) []landlockRule {
	var rules []landlockRule
	add := func(paths []string, access uint64, optional bool) {
		for _, path := range paths {
			rules = append(rules, landlockRule{path: resolveProcSelf(path, pid), access: access, optional: optional})
		}
	}
	add(p.Read, readRights, false)
	add(p.Exec, execRights, false)
	add(p.Devices, deviceRights, true)
	for _, fd := range p.FDs {
		rules = append(rules, landlockRule{fd: fd, access: fdRights})
	}
	return rules
}

func resolveProcSelf(path string, pid int) string {
	if rest, ok := strings.CutPrefix(path, procSelf); ok && (rest == "" || rest[0] == '/') {
		return "/proc/" + strconv.Itoa(pid) + rest
	}
	return path
}

// ruleAccess is what a rule may grant on a file: the handled part of the
// wanted rights, and for a non-directory only the rights files accept.
func ruleAccess(want, handled uint64, dir bool) uint64 {
	access := want & handled
	if !dir {
		access &= fileRights
	}
	return access
}

// applyLandlock restricts the calling thread to the policy's file system,
// no TCP and (with scopes) no signals out of its domain. Its measures are
// landlock_fs, landlock_net and landlock_scope. no_new_privs must be set.
func applyLandlock(p Policy) ([]Measure, error) {
	abi, err := landlockABI()
	if err != nil {
		why := landlockAbsence(err)
		if why == "" {
			return nil, fmt.Errorf("landlock: query ABI: %w", err)
		}
		return landlockAbsent(why), nil
	}
	attr, size := rulesetAttr(abi)
	r, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if errno != 0 {
		return nil, fmt.Errorf("landlock: create ruleset (ABI %d): %w", abi, errno)
	}
	ruleset := int(r)
	defer unix.Close(ruleset)

	n := 0
	for _, rule := range landlockRules(p, os.Getpid()) {
		added, err := addRule(ruleset, rule, attr.Access_fs)
		if err != nil {
			return nil, err
		}
		if added {
			n++
		}
	}
	if _, _, errno := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(ruleset), 0, 0); errno != 0 {
		return nil, fmt.Errorf("landlock: restrict self: %w", errno)
	}

	return landlockMeasures(abi, n), nil
}

// landlockAbsent is the report of a kernel without Landlock.
func landlockAbsent(why string) []Measure {
	return []Measure{notInForce(LandlockFS, why), notInForce(LandlockNet, why), notInForce(LandlockScope, why)}
}

// landlockMeasures is the report of a domain enforced with n rules at abi.
func landlockMeasures(abi, n int) []Measure {
	ms := []Measure{inForce(LandlockFS, fmt.Sprintf("abi %d, %d rules", abi, n))}
	if abi >= abiNet {
		ms = append(ms, inForce(LandlockNet, "TCP bind and connect denied"))
	} else {
		ms = append(ms, notInForce(LandlockNet, fmt.Sprintf("kernel ABI %d lacks it", abi)))
	}
	if abi >= abiScope {
		ms = append(ms, inForce(LandlockScope, "no signals or abstract sockets out of the domain"))
	} else {
		ms = append(ms, notInForce(LandlockScope, fmt.Sprintf("kernel ABI %d lacks it", abi)))
	}
	return ms
}

// addRule adds rule to the ruleset. It reports false when the rule was
// skipped: an optional path that does not exist, or nothing to grant.
func addRule(ruleset int, rule landlockRule, handled uint64) (bool, error) {
	fd := rule.fd
	if rule.path != "" {
		var err error
		fd, err = unix.Open(rule.path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && rule.optional {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("landlock: add rule %s: %w", rule, err)
		}
		defer unix.Close(fd)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, fmt.Errorf("landlock: add rule %s: stat: %w", rule, err)
	}
	access := ruleAccess(rule.access, handled, st.Mode&unix.S_IFMT == unix.S_IFDIR)
	if access == 0 {
		return false, nil
	}
	attr := unix.LandlockPathBeneathAttr{Allowed_access: access, Parent_fd: int32(fd)}
	if _, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(ruleset), unix.LANDLOCK_RULE_PATH_BENEATH,
		uintptr(unsafe.Pointer(&attr)), 0, 0, 0); errno != 0 {
		return false, fmt.Errorf("landlock: add rule %s: %w", rule, errno)
	}
	return true, nil
}
