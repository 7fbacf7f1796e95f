package lockfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sampleSHA = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" // sha256("hello")

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWriteReadRoundTripSorted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "models.lock")
	in := &File{Models: []Entry{
		{Name: "zeta", File: "z.gguf", SHA256: sampleSHA, Size: 5},
		{Name: "alpha", File: "a.gguf", SHA256: sampleSHA, Size: 5, Source: "https://example.org/a@v1"},
	}}
	if err := Write(path, in); err != nil {
		t.Fatal(err)
	}
	out, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.Version != Version || len(out.Models) != 2 || out.Models[0].Name != "alpha" || out.Models[1].Name != "zeta" {
		t.Fatalf("read back %+v", out)
	}
	if out.Models[0].Source != "https://example.org/a@v1" {
		t.Errorf("source lost: %+v", out.Models[0])
	}
}

func TestReadRejects(t *testing.T) {
	entry := "  - name: m\n    file: m.gguf\n    sha256: " + sampleSHA + "\n    size: 5\n"
	tests := map[string]string{
		"unknown key":       "version: 1\nmodels:\n" + entry + "    colour: red\n",
		"wrong version":     "version: 2\nmodels:\n" + entry,
		"missing version":   "models:\n" + entry,
		"short sha":         "version: 1\nmodels:\n  - name: m\n    file: m.gguf\n    sha256: abc\n    size: 5\n",
		"upper-case sha":    "version: 1\nmodels:\n  - name: m\n    file: m.gguf\n    sha256: " + strings.ToUpper(sampleSHA) + "\n    size: 5\n",
		"non-hex sha":       "version: 1\nmodels:\n  - name: m\n    file: m.gguf\n    sha256: " + strings.Repeat("zz", 32) + "\n    size: 5\n",
		"path in file":      "version: 1\nmodels:\n  - name: m\n    file: ../m.gguf\n    sha256: " + sampleSHA + "\n    size: 5\n",
		"zero size":         "version: 1\nmodels:\n  - name: m\n    file: m.gguf\n    sha256: " + sampleSHA + "\n    size: 0\n",
		"duplicate name":    "version: 1\nmodels:\n" + entry + entry,
		"not yaml":          "version: [1\n",
		"name missing":      "version: 1\nmodels:\n  - file: m.gguf\n    sha256: " + sampleSHA + "\n    size: 5\n",
		"size not a number": "version: 1\nmodels:\n  - name: m\n    file: m.gguf\n    sha256: " + sampleSHA + "\n    size: big\n",
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Read(writeTemp(t, "models.lock", content)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestHashAndVerify(t *testing.T) {
	path := writeTemp(t, "m.gguf", "hello")
	d, err := Hash(path)
	if err != nil {
		t.Fatal(err)
	}
	if d.SHA256 != sampleSHA || d.Size != 5 {
		t.Fatalf("Hash = %+v", d)
	}
	e := Entry{Name: "m", File: "m.gguf", SHA256: sampleSHA, Size: 5}
	if err := e.Verify(d); err != nil {
		t.Fatalf("matching file refused: %v", err)
	}

	tampered := writeTemp(t, "m.gguf", "hellO")
	d2, err := Hash(tampered)
	if err != nil {
		t.Fatal(err)
	}
	err = e.Verify(d2)
	if err == nil || !strings.Contains(err.Error(), "sha256 "+d2.SHA256) || strings.Contains(err.Error(), "size") {
		t.Errorf("tampered byte: %v", err)
	}
	err = e.Verify(Digest{SHA256: sampleSHA, Size: 4})
	if err == nil || !strings.Contains(err.Error(), "size 4, lockfile says 5") {
		t.Errorf("truncated: %v", err)
	}
}

func TestLookupAndMatch(t *testing.T) {
	f := &File{Models: []Entry{{Name: "m", File: "m.gguf", SHA256: sampleSHA, Size: 5}}}
	if e, err := f.Lookup("m"); err != nil || e.File != "m.gguf" {
		t.Errorf("Lookup(m) = %+v, %v", e, err)
	}
	if _, err := f.Lookup("other"); !errors.Is(err, ErrNotPinned) {
		t.Errorf("Lookup(other) = %v", err)
	}
	if _, err := f.Match("m.gguf", sampleSHA); err != nil {
		t.Errorf("Match = %v", err)
	}
	if _, err := f.Match("renamed.gguf", sampleSHA); !errors.Is(err, ErrNotPinned) {
		t.Errorf("renamed file matched: %v", err)
	}
}
