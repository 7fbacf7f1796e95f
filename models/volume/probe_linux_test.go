package volume

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fakeSystem builds /sys and /proc trees: dm-0 is a LUKS device, dm-1 an
// LVM volume on it, dm-2 an LVM volume on the plain partition sda1, and
// loop0 a loop device.
func fakeSystem(t *testing.T) Prober {
	t.Helper()
	root := t.TempDir()
	sys, proc := filepath.Join(root, "sys"), filepath.Join(root, "proc")
	write := func(rel, content string) {
		t.Helper()
		path := filepath.Join(sys, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(rel, target string) {
		t.Helper()
		path := filepath.Join(sys, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}
	write("block/dm-0/dm/uuid", "CRYPT-LUKS2-0123456789abcdef-luks\n")
	write("block/dm-0/dm/name", "luks\n")
	write("block/dm-1/dm/uuid", "LVM-abcdef\n")
	write("block/dm-1/dm/name", "vg-models\n")
	link("block/dm-1/slaves/dm-0", "../../dm-0")
	write("block/sda/sda1/partition", "1\n")
	write("block/dm-2/dm/uuid", "LVM-plain\n")
	write("block/dm-2/dm/name", "plain\n")
	link("block/dm-2/slaves/sda1", "../../sda/sda1")
	write("block/loop0/loop/backing_file", "/var/disk.img\n")
	write("block/loop0/loop0p1/partition", "1\n")
	for devno, target := range map[string]string{"253:0": "dm-0", "253:1": "dm-1", "253:2": "dm-2", "8:0": "sda", "8:1": "sda/sda1", "7:0": "loop0", "259:0": "loop0/loop0p1"} {
		link("dev/block/"+devno, "../../block/"+target)
	}
	link("class/block/dm-0", "../../block/dm-0")
	mountinfo := strings.Join([]string{
		"20 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
		"21 20 253:1 / /models rw - ext4 /dev/mapper/vg-models rw",
		"22 20 253:0 / /luks ro - xfs /dev/mapper/luks ro",
		"23 20 0:45 / /home/u/Private rw - ecryptfs /home/u/.Private rw,ecryptfs_sig=abc",
		"24 20 0:46 / /btr rw - btrfs /dev/mapper/vg-models rw",
		"25 20 0:47 / /nfs rw - nfs server:/export rw",
		"26 20 7:0 / /loop rw - ext4 /dev/loop0 rw",
		"27 20 253:2 / /plain rw - ext4 /dev/mapper/plain rw",
		`28 20 0:48 / /with\040space rw - btrfs /dev/dm-0 rw`,
		"29 20 8:1 /srv /bind ro master:2 - ext4 /dev/sda1 rw",
		"30 20 0:49 / /gone rw - ext4 /dev/sdz rw",
		"31 20 9:9 / /nosys rw - ext4 /dev/md9 rw",
		"32 20 259:0 / /looppart rw - ext4 /dev/loop0p1 rw",
	}, "\n") + "\n"
	if err := os.MkdirAll(filepath.Join(proc, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, "self", "mountinfo"), []byte(mountinfo), 0o644); err != nil {
		t.Fatal(err)
	}
	return Prober{Sys: sys, Proc: proc}
}

// makedev is the inverse of devMajor and devMinor.
func makedev(major, minor uint64) uint64 {
	return minor&0xff | (major&0xfff)<<8 | (minor&^0xff)<<12 | (major&^0xfff)<<32
}

var (
	fscryptNo  = answer{known: true}
	fscryptYes = answer{known: true, yes: true, by: "fscrypt"}
	fscryptErr = answer{why: "fscrypt policy: input/output error"}
)

func TestVolumeEncryption(t *testing.T) {
	p := fakeSystem(t)
	tests := []struct {
		name         string
		dev          uint64
		path         string
		fscrypt      answer
		want         string // Encryption.String() must contain it
		known, crypt bool
	}{
		{"LUKS directly", makedev(253, 0), "/luks/m.gguf", fscryptNo, "yes (dm-crypt dm-0)", true, true},
		{"LVM on LUKS", makedev(253, 1), "/models/m.gguf", fscryptNo, "yes (dm-crypt dm-0 under dm-1)", true, true},
		{"plain partition", makedev(8, 1), "/srv/m.gguf", fscryptNo, "no", true, false},
		{"LVM on a plain partition", makedev(253, 2), "/plain/m.gguf", fscryptNo, "no", true, false},
		{"eCryptfs", makedev(0, 45), "/home/u/Private/m.gguf", fscryptNo, "yes (eCryptfs mounted at /home/u/Private)", true, true},
		{"btrfs by mapper name", makedev(0, 99), "/btr/m.gguf", fscryptNo, "yes (dm-crypt dm-0 under dm-1)", true, true},
		{"btrfs by device name, escaped point", makedev(0, 98), "/with space/m.gguf", fscryptNo, "yes (dm-crypt dm-0)", true, true},
		{"fscrypt on a plain partition", makedev(8, 1), "/srv/m.gguf", fscryptYes, "yes (fscrypt)", true, true},
		{"nfs", makedev(0, 47), "/nfs/m.gguf", fscryptNo, "unknown (nfs on /nfs (source server:/export) has no block device", false, false},
		{"loop device", makedev(7, 0), "/loop/m.gguf", fscryptNo, "unknown (loop device loop0", false, false},
		{"partition of a loop device", makedev(259, 0), "/looppart/m.gguf", fscryptNo, "unknown (loop device loop0", false, false},
		{"fscrypt question failed", makedev(8, 1), "/srv/m.gguf", fscryptErr, "unknown (fscrypt policy: input/output error)", false, false},
		{"fscrypt question failed, LUKS below", makedev(253, 0), "/luks/m.gguf", fscryptErr, "yes (dm-crypt dm-0)", true, true},
		{"bind mount of a plain partition", makedev(8, 1), "/bind/m.gguf", fscryptNo, "no", true, false},
		{"source not in sysfs", makedev(0, 49), "/gone/m.gguf", fscryptNo, "unknown (ext4 on /gone (source /dev/sdz)", false, false},
		{"device not in sysfs", makedev(9, 9), "/nosys/m.gguf", fscryptNo, "unknown (ext4 on /nosys: no block device 9:9 in sysfs)", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.inspect(tt.dev, tt.path, tt.fscrypt)
			if !strings.Contains(got.String(), tt.want) || got.Known != tt.known || got.Encrypted != tt.crypt {
				t.Errorf("got %q (known %v, encrypted %v), want %q (known %v, encrypted %v)",
					got, got.Known, got.Encrypted, tt.want, tt.known, tt.crypt)
			}
		})
	}
}

func TestVolumeNoMountinfo(t *testing.T) {
	p := Prober{Sys: t.TempDir(), Proc: t.TempDir()}
	got := p.inspect(makedev(8, 1), "/srv/m.gguf", fscryptNo)
	if got.Known || !strings.Contains(got.Reason, "read mounts") {
		t.Errorf("got %q, want unknown: mounts unreadable", got)
	}
}

// TestVolumeStackLoop: a slaves/ cycle (only a broken sysfs has one) ends
// in unknown, not in a hang or a claim.
func TestVolumeStackLoop(t *testing.T) {
	p := fakeSystem(t)
	if err := os.Symlink("../../dm-2", filepath.Join(p.Sys, "block", "dm-2", "slaves", "dm-2")); err != nil {
		t.Fatal(err)
	}
	got := p.inspect(makedev(253, 2), "/plain/m.gguf", fscryptNo)
	if got.Known || !strings.Contains(got.Reason, "stacked deeper") {
		t.Errorf("got %q, want unknown: stacked too deep", got)
	}
}

func TestVolumeFscryptAnswer(t *testing.T) {
	tests := []struct {
		err          error
		known, crypt bool
	}{
		{nil, true, true},
		{syscall.EOVERFLOW, true, true},
		{syscall.ENODATA, true, false},
		{syscall.ENOTTY, true, false},
		{syscall.EOPNOTSUPP, true, false},
		{syscall.EINVAL, false, false},
		{syscall.EIO, false, false},
	}
	for _, tt := range tests {
		got := fscryptAnswer(tt.err)
		if got.known != tt.known || got.yes != tt.crypt {
			t.Errorf("fscryptAnswer(%v) = %+v, want known %v, encrypted %v", tt.err, got, tt.known, tt.crypt)
		}
	}
}

// TestVolumeProbeHost runs the real probes on a file in the test's
// temporary folder: what the answer is depends on the host, so only that
// it is coherent is checked.
func TestVolumeProbeHost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(path, []byte("GGUF"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := System().Probe(f, path)
	t.Logf("%s: encrypted %s", path, got)
	if got.Encrypted && got.By == "" || !got.Known && got.Reason == "" {
		t.Errorf("incoherent answer %+v", got)
	}
	if a := fscryptPolicy(f); !a.known && a.why == "" {
		t.Errorf("fscrypt answer without a reason: %+v", a)
	}
}
