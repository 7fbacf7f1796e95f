package sandbox

import (
	"fmt"
	"reflect"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestRuleAccess(t *testing.T) {
	tests := []struct {
		name      string
		want      uint64
		abi       int
		dir       bool
		wantRight uint64
	}{
		{"read dir", readRights, 1, true, readRights},
		{"read file drops READ_DIR", readRights, 1, false, unix.LANDLOCK_ACCESS_FS_READ_FILE},
		{"exec file", execRights, 7, false, unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_EXECUTE},
		{"device dir on ABI 5", deviceRights, 5, true, deviceRights},
		{"device file on ABI 5", deviceRights, 5, false,
			unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV},
		{"device file on ABI 4 has no IOCTL_DEV", deviceRights, 4, false,
			unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ruleAccess(tt.want, handledFS(tt.abi), tt.dir); got != tt.wantRight {
				t.Errorf("ruleAccess = %#x, want %#x", got, tt.wantRight)
			}
		})
	}
}

func TestHandledFS(t *testing.T) {
	for abi, want := range map[int]uint64{1: 1<<13 - 1, 2: 1<<14 - 1, 3: 1<<15 - 1, 4: 1<<15 - 1, 5: 1<<16 - 1, 7: 1<<16 - 1} {
		if got := handledFS(abi); got != want {
			t.Errorf("handledFS(%d) = %#x, want %#x", abi, got, want)
		}
	}
}

func TestRulesetAttrSizeFollowsABI(t *testing.T) {
	var full unix.LandlockRulesetAttr
	tests := []struct {
		abi         int
		size        uintptr
		net, scoped uint64
	}{
		{1, 8, 0, 0},
		{3, 8, 0, 0},
		{4, 16, netRights, 0},
		{5, 16, netRights, 0},
		{6, unsafe.Sizeof(full), netRights, scopes},
		{7, 24, netRights, scopes},
	}
	for _, tt := range tests {
		attr, size := rulesetAttr(tt.abi)
		if size != tt.size || attr.Access_net != tt.net || attr.Scoped != tt.scoped || attr.Access_fs != handledFS(tt.abi) {
			t.Errorf("rulesetAttr(%d) = %+v size %d, want net %#x scoped %#x size %d", tt.abi, attr, size, tt.net, tt.scoped, tt.size)
		}
	}
}

func TestLandlockRules(t *testing.T) {
	p := Policy{
		Read:    []string{"/proc/self", "/proc/self/status", "/proc/selfish", "/etc"},
		Exec:    []string{"/usr/lib"},
		Devices: []string{"/dev/null"},
		FDs:     []int{3},
	}
	got := landlockRules(p, 42)
	want := []landlockRule{
		{path: "/proc/42", access: readRights},
		{path: "/proc/42/status", access: readRights},
		{path: "/proc/selfish", access: readRights},
		{path: "/etc", access: readRights},
		{path: "/usr/lib", access: execRights},
		{path: "/dev/null", access: deviceRights, optional: true},
		{fd: 3, access: fdRights},
	}
	if len(got) != len(want) {
		t.Fatalf("landlockRules = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("rule %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestLandlockDegrades(t *testing.T) {
	for err, want := range map[error]string{
		unix.ENOSYS:                            "kernel lacks Landlock (ENOSYS)",
		unix.EOPNOTSUPP:                        "Landlock is disabled in this kernel (EOPNOTSUPP)",
		unix.EPERM:                             "refused by a seccomp filter this process runs under, e.g. a container's or a systemd unit's (EPERM)",
		unix.EINVAL:                            "",
		fmt.Errorf("wrapped: %w", unix.ENOSYS): "kernel lacks Landlock (ENOSYS)",
	} {
		if got := landlockAbsence(err); got != want {
			t.Errorf("landlockAbsence(%v) = %q, want %q", err, got, want)
		}
	}
	absent := Report{Measures: landlockAbsent("kernel lacks Landlock (ENOSYS)")}
	for _, name := range []string{LandlockFS, LandlockNet, LandlockScope} {
		if absent.InForce(name) {
			t.Errorf("%s in force without Landlock", name)
		}
	}
	tests := []struct {
		abi  int
		want []Measure
	}{
		{3, []Measure{inForce(LandlockFS, "abi 3, 9 rules"), notInForce(LandlockNet, "kernel ABI 3 lacks it"), notInForce(LandlockScope, "kernel ABI 3 lacks it")}},
		{5, []Measure{inForce(LandlockFS, "abi 5, 9 rules"), inForce(LandlockNet, "TCP bind and connect denied"), notInForce(LandlockScope, "kernel ABI 5 lacks it")}},
		{6, []Measure{inForce(LandlockFS, "abi 6, 9 rules"), inForce(LandlockNet, "TCP bind and connect denied"), inForce(LandlockScope, "no signals or abstract sockets out of the domain")}},
	}
	for _, tt := range tests {
		if got := landlockMeasures(tt.abi, 9); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("landlockMeasures(%d) = %+v, want %+v", tt.abi, got, tt.want)
		}
	}
}
