package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenDirCreatesPrivateDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "warden")
	d, err := OpenDir(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("mode %v, want 0700", perm)
	}
	models, err := d.Models()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(models) != path {
		t.Errorf("models dir %s is not inside %s", models, path)
	}
}

func TestOpenDirRefusesWritableByOthers(t *testing.T) {
	path := t.TempDir()
	if err := os.Chmod(path, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := OpenDir(path)
	if err == nil || !strings.Contains(err.Error(), "chmod go-w") {
		t.Fatalf("err = %v, want a refusal that explains the fix", err)
	}
}

func TestDefaultDirHonoursXDG(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/var/lib/example")
	d, err := DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	if d != "/var/lib/example/warden" {
		t.Errorf("DefaultDir() = %s", d)
	}
}
