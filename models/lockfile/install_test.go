package lockfile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// source writes data into its own folder and opens it.
func source(t *testing.T, data string) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func hexSum(data string) string {
	s := sha256.Sum256([]byte(data))
	return hex.EncodeToString(s[:])
}

// noPartials fails if Install left a temporary file behind.
func noPartials(t *testing.T, dir string) {
	t.Helper()
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.partial")); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestInstallCopiesReadOnlyAndIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	in, err := Install(context.Background(), source(t, "weights"), dir, "m.gguf", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Digest{SHA256: hexSum("weights"), Size: 7}
	if !in.Copied || in.Digest != want || in.Path != filepath.Join(dir, "m.gguf") {
		t.Fatalf("Install = %+v", in)
	}
	info, err := os.Stat(in.Path)
	if err != nil || info.Mode().Perm() != ModelMode {
		t.Errorf("copy mode %v, %v; want %#o", info.Mode(), err, ModelMode)
	}
	if data, _ := os.ReadFile(in.Path); string(data) != "weights" {
		t.Errorf("copy holds %q", data)
	}
	again, err := Install(context.Background(), source(t, "weights"), dir, "m.gguf", nil, nil)
	if err != nil || again.Copied || again.Digest != want {
		t.Errorf("second Install of the same bytes = %+v, %v", again, err)
	}
	noPartials(t, dir)
}

func TestInstallRefusesADifferentFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m.gguf"), []byte("approved"), 0o440); err != nil {
		t.Fatal(err)
	}
	_, err := Install(context.Background(), source(t, "other"), dir, "m.gguf", nil, nil)
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), hexSum("approved")) {
		t.Fatalf("Install over a different file: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "m.gguf")); string(data) != "approved" {
		t.Errorf("existing file changed to %q", data)
	}
	noPartials(t, dir)
}

// A source written to while it is copied is refused, and nothing lands.
func TestInstallRefusesASourceThatChanges(t *testing.T) {
	dir := t.TempDir()
	src := source(t, "weights")
	grow := func(int64) {
		w, err := os.OpenFile(src.Name(), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		w.WriteString("!")
		w.Close()
	}
	_, err := Install(context.Background(), src, dir, "m.gguf", nil, grow)
	if err == nil || !strings.Contains(err.Error(), "changed while it was copied") {
		t.Fatalf("Install of a changing source: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "m.gguf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a copy landed: %v", err)
	}
	noPartials(t, dir)
}

// What fails the check never appears under its name; the check sees the
// copy and the digest of the copy.
func TestInstallCheckRunsOnTheCopy(t *testing.T) {
	dir := t.TempDir()
	var seen string
	check := func(f *os.File, d Digest) error {
		if filepath.Dir(f.Name()) != dir || d.SHA256 != hexSum("weights") {
			t.Errorf("check got %s, %+v", f.Name(), d)
		}
		seen = f.Name()
		return errors.New("not a model")
	}
	if _, err := Install(context.Background(), source(t, "weights"), dir, "m.gguf", check, nil); err == nil || err.Error() != "not a model" {
		t.Fatalf("Install: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "m.gguf")); !errors.Is(err, os.ErrNotExist) || seen == "" {
		t.Errorf("refused copy landed (%v) or check not run", err)
	}
	noPartials(t, dir)
}

func TestInstallUnreadableSource(t *testing.T) {
	dir := t.TempDir()
	folder, err := os.Open(t.TempDir()) // opens, but read(2) fails: EISDIR
	if err != nil {
		t.Fatal(err)
	}
	defer folder.Close()
	if _, err := Install(context.Background(), folder, dir, "m.gguf", nil, nil); err == nil || !strings.Contains(err.Error(), "copy") {
		t.Fatalf("Install of an unreadable source: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "m.gguf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a copy landed: %v", err)
	}
	noPartials(t, dir)
}

// An entry pinned in place makes the file version 3; one without a path
// still writes version 2, which older builds read.
func TestPathEntriesAndVersions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "models.lock")
	plain := Entry{Name: "m", File: "m.gguf", SHA256: sampleSHA, Size: 5}
	if err := Write(path, &File{Models: []Entry{plain}}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); !strings.Contains(string(data), "version: 2\n") || strings.Contains(string(data), "path:") {
		t.Errorf("a lockfile without paths is not plain version 2:\n%s", data)
	}
	placed := Entry{Name: "p", File: "p.gguf", SHA256: sampleSHA, Size: 5, Path: "/srv/models/p.gguf"}
	if err := Write(path, &File{Models: []Entry{plain, placed}}); err != nil {
		t.Fatal(err)
	}
	f, err := Read(path)
	if err != nil || f.Version != 3 {
		t.Fatalf("Read = %+v, %v", f, err)
	}
	e, _ := f.Lookup("p")
	if e.Path != placed.Path || e.Location("/data/models") != placed.Path || plain.Location("/data/models") != "/data/models/m.gguf" {
		t.Errorf("locations: %+v", e)
	}
}

func TestReadRejectsBadPaths(t *testing.T) {
	entry := "  - name: m\n    file: m.gguf\n    sha256: " + sampleSHA + "\n    size: 5\n"
	for name, tt := range map[string]struct{ content, want string }{
		"path in version 2": {"version: 2\nmodels:\n" + entry + "    path: /srv/m.gguf\n", "path needs schema version 3"},
		"relative path":     {"version: 3\nmodels:\n" + entry + "    path: srv/m.gguf\n", "must be absolute and clean"},
		"unclean path":      {"version: 3\nmodels:\n" + entry + "    path: /srv/../m.gguf\n", "must be absolute and clean"},
		"other file name":   {"version: 3\nmodels:\n" + entry + "    path: /srv/n.gguf\n", `does not end in the file name "m.gguf"`},
		"version 4":         {"version: 4\nmodels:\n" + entry, "schema version 4"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Read(writeTemp(t, "models.lock", tt.content))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Read: %v, want %q", err, tt.want)
			}
		})
	}
}
