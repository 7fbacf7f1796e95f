//go:build linux || darwin

package lockfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// protectedDir returns a fresh folder that passes the folder checks.
func protectedDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "models")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	return dir
}

// modelFile writes a file with the given mode (set explicitly: the umask
// must not decide the test).
func modelFile(t *testing.T, dir string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, "m.gguf")
	if err := os.WriteFile(path, []byte("GGUF"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func check(t *testing.T, path string, uid uint32) (Protection, error) {
	t.Helper()
	f, real, err := OpenModel(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return CheckProtection(f, real, uid)
}

func TestProtectionModes(t *testing.T) {
	me := uint32(os.Geteuid())
	tests := []struct {
		name     string
		file     os.FileMode
		dir      os.FileMode
		wantErr  string
		wantWarn string
	}{
		{"recommended 0440", 0o440, 0o750, "", ""},
		{"owner only", 0o400, 0o700, "", ""},
		{"world-readable", 0o444, 0o755, "", "readable by every user (mode 0444)"},
		{"group-writable file", 0o460, 0o750, "writable by group or others (mode 0460)", ""},
		{"world-writable file", 0o442, 0o750, "writable by group or others (mode 0442)", ""},
		{"group-writable folder", 0o440, 0o770, "is writable by group or others (mode 0770): they could replace the model", ""},
		{"sticky shared folder", 0o440, 0o777 | os.ModeSticky, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := protectedDir(t)
			path := modelFile(t, dir, tt.file)
			if err := os.Chmod(dir, tt.dir); err != nil {
				t.Fatal(err)
			}
			p, err := check(t, path, me)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "run: chmod") {
					t.Errorf("error does not say how to fix it: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			warned := strings.Join(p.Warnings, "\n")
			if tt.wantWarn == "" && warned != "" || !strings.Contains(warned, tt.wantWarn) {
				t.Errorf("warnings %q, want %q", warned, tt.wantWarn)
			}
			if p.ReadOnlyMount {
				t.Errorf("a temporary folder reported as a read-only mount")
			}
		})
	}
}

// TestProtectionOwner checks that a file or folder owned by a user other
// than Warden's or root is refused. Root can give files away, so it plays
// the other user; anyone else owns their files and claims to run Warden as
// a different uid.
func TestProtectionOwner(t *testing.T) {
	// strangerOwns makes path belong to a user who is neither root nor the
	// returned uid, which plays the user Warden runs as. Root can give
	// files away; anyone else owns their files and claims another uid.
	strangerOwns := func(t *testing.T, path string) (warden uint32) {
		t.Helper()
		if os.Geteuid() != 0 {
			return uint32(os.Geteuid()) + 1
		}
		if err := os.Lchown(path, 4242, -1); err != nil {
			t.Fatal(err)
		}
		return 1000
	}
	t.Run("file", func(t *testing.T) {
		path := modelFile(t, protectedDir(t), 0o440)
		warden := strangerOwns(t, path)
		_, err := check(t, path, warden)
		if err == nil || !strings.Contains(err.Error(), "neither root nor the user Warden runs as") {
			t.Fatalf("file of another user accepted: %v", err)
		}
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := check(t, path, ownerUID(t, info)); err != nil {
			t.Errorf("the owner's own file refused: %v", err)
		}
	})
	t.Run("folder", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give a folder away: as another user the file check fires first")
		}
		dir := protectedDir(t)
		path := modelFile(t, dir, 0o440)
		warden := strangerOwns(t, dir)
		_, err := check(t, path, warden)
		if err == nil || !strings.Contains(err.Error(), "folder "+dir+" is owned by uid 4242") {
			t.Fatalf("folder of another user accepted: %v", err)
		}
	})
}

func ownerUID(t *testing.T, info os.FileInfo) uint32 {
	t.Helper()
	o, err := ownerOf(info)
	if err != nil {
		t.Fatal(err)
	}
	return o.uid
}

func TestOpenModelResolvesLinks(t *testing.T) {
	dir := protectedDir(t)
	path := modelFile(t, dir, 0o440)
	link := filepath.Join(dir, "link.gguf")
	if err := os.Symlink("m.gguf", link); err != nil {
		t.Fatal(err)
	}
	p, err := check(t, link, uint32(os.Geteuid()))
	if err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(path)
	if p.Path != real {
		t.Errorf("checked %s, want the link target %s", p.Path, real)
	}
}

func TestProtectionRefusesNonRegular(t *testing.T) {
	dir := protectedDir(t)
	_, err := check(t, dir, uint32(os.Geteuid()))
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a folder passed as a model: %v", err)
	}
}
