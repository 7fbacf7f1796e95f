package volume

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// Prober inspects the system for Probe. Its roots are /sys and /proc on a
// real system; tests point them at fake trees.
type Prober struct {
	Sys, Proc string
	// fscrypt asks the file's filesystem for an fscrypt policy; nil uses
	// the ioctl. Tests replace it, as no fake tree can answer an ioctl.
	fscrypt func(f *os.File) answer
}

// System is the Prober for this machine.
func System() Prober { return Prober{Sys: "/sys", Proc: "/proc"} }

// answer is one source of evidence: yes, no, or unknown with why.
type answer struct {
	known, yes bool
	by, why    string
}

// Probe tells whether f, open at path (symbolic links resolved), lies on an
// encrypted volume.
func (p Prober) Probe(f *os.File, path string) Encryption {
	info, err := f.Stat()
	if err != nil {
		return Encryption{Reason: err.Error()}
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return Encryption{Reason: "no device number for " + path}
	}
	policy := p.fscrypt
	if policy == nil {
		policy = fscryptPolicy
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Encryption{Reason: err.Error()}
	}
	return p.inspect(uint64(st.Dev), abs, policy(f))
}

// inspect combines the evidence: any yes wins; no only when both the
// fscrypt question and the block devices under the mount answer no.
func (p Prober) inspect(dev uint64, path string, fscrypt answer) Encryption {
	if fscrypt.yes {
		return Encryption{Known: true, Encrypted: true, By: fscrypt.by}
	}
	m, err := p.mountOf(dev, path)
	if err != nil {
		return Encryption{Reason: err.Error()}
	}
	if m.fstype == "ecryptfs" {
		return Encryption{Known: true, Encrypted: true, By: "eCryptfs mounted at " + m.point}
	}
	blk := p.block(m)
	switch {
	case blk.yes:
		return Encryption{Known: true, Encrypted: true, By: blk.by}
	case blk.known && fscrypt.known:
		return Encryption{Known: true}
	case !blk.known:
		return Encryption{Reason: blk.why}
	default:
		return Encryption{Reason: fscrypt.why}
	}
}

// mount is one line of mountinfo.
type mount struct {
	major, minor uint32
	point        string
	fstype       string
	source       string
}

// mountOf finds the mount holding path: the longest mount point above it,
// preferring one whose device is the file's (bind mounts and stacked
// mounts share points). Filesystems such as btrfs report a device number
// of their own in stat, so a mount point alone is the fallback.
func (p Prober) mountOf(dev uint64, path string) (mount, error) {
	name := filepath.Join(p.Proc, "self", "mountinfo")
	f, err := os.Open(name)
	if err != nil {
		return mount{}, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	major, minor := devMajor(dev), devMinor(dev)
	var best mount
	bestScore := -1
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		m, ok := parseMountinfo(sc.Text())
		if !ok || !under(path, m.point) {
			continue
		}
		score := len(m.point)
		if m.major == major && m.minor == minor {
			score += 1 << 20
		}
		if score >= bestScore { // later mounts shadow earlier ones
			best, bestScore = m, score
		}
	}
	if err := sc.Err(); err != nil {
		return mount{}, fmt.Errorf("read %s: %w", name, err)
	}
	if bestScore < 0 {
		return mount{}, fmt.Errorf("no mount in %s holds %s", name, path)
	}
	return best, nil
}

// parseMountinfo reads "36 35 98:0 /root /point opts [optional...] - fstype source superopts".
func parseMountinfo(line string) (mount, bool) {
	fields := strings.Fields(line)
	sep := -1
	for i, f := range fields {
		if f == "-" && i >= 6 {
			sep = i
			break
		}
	}
	if sep < 0 || len(fields) < sep+3 {
		return mount{}, false
	}
	maj, min, ok := strings.Cut(fields[2], ":")
	if !ok {
		return mount{}, false
	}
	major, err1 := strconv.ParseUint(maj, 10, 32)
	minor, err2 := strconv.ParseUint(min, 10, 32)
	if err1 != nil || err2 != nil {
		return mount{}, false
	}
	return mount{major: uint32(major), minor: uint32(minor), point: unescape(fields[4]),
		fstype: fields[sep+1], source: unescape(fields[sep+2])}, true
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func under(path, point string) bool {
	return point == "/" || path == point || strings.HasPrefix(path, strings.TrimSuffix(point, "/")+"/")
}

// devMajor and devMinor split a Linux dev_t as glibc's gnu_dev_major does.
func devMajor(dev uint64) uint32 { return uint32((dev>>8)&0xfff | (dev>>32)&^0xfff) }
func devMinor(dev uint64) uint32 { return uint32(dev&0xff | (dev>>12)&^0xff) }

// block answers for the block devices under the mount: yes if a dm-crypt
// device is among them, no if every one was inspected and none is.
func (p Prober) block(m mount) answer {
	dir, err := p.blockDir(m)
	if err != nil {
		return answer{why: err.Error()}
	}
	return p.walk(dir, 0)
}

// blockDir finds the mount's device in sysfs: by its device number, or,
// for filesystems with an anonymous one (btrfs), by the source it names.
func (p Prober) blockDir(m mount) (string, error) {
	if m.major != 0 {
		dir := filepath.Join(p.Sys, "dev", "block", fmt.Sprintf("%d:%d", m.major, m.minor))
		if _, err := os.Stat(dir); err != nil {
			return "", fmt.Errorf("%s on %s: no block device %d:%d in sysfs", m.fstype, m.point, m.major, m.minor)
		}
		return dir, nil
	}
	if mapped, ok := strings.CutPrefix(m.source, "/dev/mapper/"); ok {
		if dir, ok := p.dmByName(mapped); ok {
			return dir, nil
		}
	} else if name, ok := strings.CutPrefix(m.source, "/dev/"); ok && !strings.Contains(name, "/") {
		dir := filepath.Join(p.Sys, "class", "block", name)
		if _, err := os.Stat(dir); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%s on %s (source %s) has no block device Warden can inspect", m.fstype, m.point, m.source)
}

// dmByName finds the device-mapper device called name (/dev/mapper/name).
func (p Prober) dmByName(name string) (string, bool) {
	dirs, _ := filepath.Glob(filepath.Join(p.Sys, "block", "dm-*"))
	for _, dir := range dirs {
		if b, err := os.ReadFile(filepath.Join(dir, "dm", "name")); err == nil && strings.TrimSpace(string(b)) == name {
			return dir, true
		}
	}
	return "", false
}

// maxDepth bounds the walk down stacked devices; real stacks are a few
// deep, so a deeper one is a loop or a fake.
const maxDepth = 16

// walk looks for a dm-crypt device at dir or below it: the devices it is
// built on (slaves/: LVM on LUKS, RAID members) and, for a partition, its
// disk.
func (p Prober) walk(dir string, depth int) answer {
	if depth > maxDepth {
		return answer{why: "block devices stacked deeper than " + strconv.Itoa(maxDepth)}
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return answer{why: fmt.Sprintf("sysfs %s: %v", dir, err)}
	}
	name := filepath.Base(real)
	if uuid, err := os.ReadFile(filepath.Join(real, "dm", "uuid")); err == nil && strings.HasPrefix(string(uuid), "CRYPT-") {
		return answer{known: true, yes: true, by: "dm-crypt " + name}
	}
	if _, err := os.Stat(filepath.Join(real, "loop")); err == nil {
		return answer{why: "loop device " + name + ": the volume of its backing file is not inspected"}
	}
	if _, err := os.Stat(filepath.Join(real, "partition")); err == nil {
		return p.walk(filepath.Dir(real), depth+1)
	}
	slaves, err := os.ReadDir(filepath.Join(real, "slaves"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return answer{why: fmt.Sprintf("sysfs %s: %v", real, err)}
	}
	result := answer{known: true}
	for _, s := range slaves {
		a := p.walk(filepath.Join(real, "slaves", s.Name()), depth+1)
		switch {
		case a.yes:
			a.by += " under " + name
			return a
		case !a.known:
			result = a
		}
	}
	return result
}

// The fscrypt ioctls (linux/fscrypt.h): _IOWR('f', 22, __u8[9]) and the
// older _IOW('f', 19, struct fscrypt_policy_v1).
const (
	fsIocGetEncryptionPolicyEx = 0xc0096616
	fsIocGetEncryptionPolicy   = 0x400c6613
)

// fscryptPolicy asks the filesystem for the file's fscrypt policy. The
// kernel answers ENODATA for a file without one, and ENOTTY or EOPNOTSUPP
// where the filesystem cannot encrypt at all: both are a definite no.
func fscryptPolicy(f *os.File) answer {
	// struct fscrypt_get_policy_ex_arg: a size, then the largest policy (v2, 24 bytes).
	var arg struct {
		size   uint64
		policy [24]byte
	}
	arg.size = uint64(len(arg.policy))
	err := ioctl(f, fsIocGetEncryptionPolicyEx, unsafe.Pointer(&arg))
	if errors.Is(err, syscall.ENOTTY) { // kernels before 5.4
		var v1 [12]byte
		err = ioctl(f, fsIocGetEncryptionPolicy, unsafe.Pointer(&v1))
	}
	return fscryptAnswer(err)
}

// fscryptAnswer reads the ioctl's result. EOVERFLOW means a policy exists
// that the buffer cannot hold. EINVAL is left unknown although fscrypt
// uses it for a policy version it does not know: other drivers answer
// EINVAL to ioctls they do not know, and encrypted is claimed only on
// evidence.
func fscryptAnswer(err error) answer {
	switch {
	case err == nil, errors.Is(err, syscall.EOVERFLOW):
		return answer{known: true, yes: true, by: "fscrypt"}
	case errors.Is(err, syscall.ENODATA), errors.Is(err, syscall.ENOTTY), errors.Is(err, syscall.EOPNOTSUPP):
		return answer{known: true}
	default:
		return answer{why: fmt.Sprintf("fscrypt policy: %v", err)}
	}
}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := conn.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}
