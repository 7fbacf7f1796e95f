package sandbox

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestDefaultPolicySkipsMissingPaths(t *testing.T) {
	present := map[string][]string{
		"/exe":              {"/exe"},
		"/opt/lib":          {"/opt/lib"},
		"/usr/lib":          {"/usr/lib"},
		"/usr/local/cuda":   {"/usr/local/cuda"},
		"/usr/local/cuda-*": {"/usr/local/cuda-12.4"},
		procSelf:            {procSelf},
		"/sys":              {"/sys"},
		"/dev/null":         {"/dev/null"},
		"/dev/nvidia*":      {"/dev/nvidia0", "/dev/nvidiactl"},
	}
	expand := func(p string) []string { return present[p] }
	p := defaultPolicy("/exe", []string{"/opt/lib", "/missing/lib"}, []int{3}, expand)

	want := Policy{
		Read:    []string{procSelf, "/sys"},
		Exec:    []string{"/exe", "/opt/lib", "/usr/lib", "/usr/local/cuda", "/usr/local/cuda-12.4"},
		Devices: []string{"/dev/null", "/dev/nvidia0", "/dev/nvidiactl"},
		FDs:     []int{3},
	}
	if !slices.Equal(p.Read, want.Read) || !slices.Equal(p.Exec, want.Exec) ||
		!slices.Equal(p.Devices, want.Devices) || !slices.Equal(p.FDs, want.FDs) {
		t.Errorf("defaultPolicy =\n%+v\nwant\n%+v", p, want)
	}
}

func TestExistingExpandsGlobsAndDropsMissing(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"nvidia0", "nvidia1", "other"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := existing(filepath.Join(dir, "nvidia*")), []string{filepath.Join(dir, "nvidia0"), filepath.Join(dir, "nvidia1")}; !slices.Equal(got, want) {
		t.Errorf("existing(glob) = %q, want %q", got, want)
	}
	if got := existing(filepath.Join(dir, "absent")); len(got) != 0 {
		t.Errorf("existing(absent) = %q, want none", got)
	}
	if got := existing(""); len(got) != 0 {
		t.Errorf(`existing("") = %q, want none`, got)
	}
	// A dangling symlink exists for Glob but names nothing to allow.
	link := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "gone"), link); err != nil {
		t.Fatal(err)
	}
	if got := existing(link); len(got) != 0 {
		t.Errorf("existing(dangling symlink) = %q, want none", got)
	}
}

func TestDefaultPolicyOnThisHost(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultPolicy(exe, []string{filepath.Join(t.TempDir(), "missing")}, 3)
	if !slices.Contains(p.Exec, exe) {
		t.Errorf("Exec = %q lacks the executable %s", p.Exec, exe)
	}
	for _, path := range slices.Concat(p.Read, p.Exec, p.Devices) {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("policy names %s: %v", path, err)
		}
	}
	if !slices.Equal(p.FDs, []int{3}) {
		t.Errorf("FDs = %v, want [3]", p.FDs)
	}
}
