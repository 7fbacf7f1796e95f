package lockfile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
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
	full := Entry{
		Name: "alpha", File: "a.gguf", SHA256: sampleSHA, Size: 5,
		Architecture: "llama", Parameters: 1_100_048_384, FileType: "Q4_K_M", ContextLength: 2048,
		ChatTemplateSHA256: sampleSHA,
		Source:             "https://huggingface.co/org/repo/resolve/0123456789abcdef0123456789abcdef01234567/a.gguf",
		Publisher:          "Org", License: "Apache-2.0", ApprovedBy: "alice", ApprovedAt: "2026-01-31T09:00:00Z",
	}
	in := &File{Models: []Entry{{Name: "zeta", File: "z.gguf", SHA256: sampleSHA, Size: 5}, full}}
	if err := Write(path, in); err != nil {
		t.Fatal(err)
	}
	out, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.Version != versionNoPath || len(out.Models) != 2 || out.Models[1].Name != "zeta" {
		t.Fatalf("read back %+v", out)
	}
	if out.Models[0] != full {
		t.Errorf("entry changed in the round trip:\n got %+v\nwant %+v", out.Models[0], full)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("lockfile mode %v, %v; want 0644", info.Mode(), err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*.tmp")); len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

// The committed models.lock was version 1 until the review fields came;
// such files still read, and write back as version 2.
func TestReadsVersion1(t *testing.T) {
	v1 := "version: 1\nmodels:\n  - name: m\n    file: m.gguf\n    sha256: " + sampleSHA +
		"\n    size: 5\n    architecture: llama\n    file_type: Q8_0\n    source: built in\n"
	path := writeTemp(t, "models.lock", v1)
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := f.Lookup("m"); err != nil || e.Architecture != "llama" || e.FileType != "Q8_0" {
		t.Fatalf("Lookup = %+v, %v", e, err)
	}
	if err := Write(path, f); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), "version: 2\n") {
		t.Errorf("rewritten file is not version 2:\n%s", data)
	}
}

func TestReadRejects(t *testing.T) {
	entry := "  - name: m\n    file: m.gguf\n    sha256: " + sampleSHA + "\n    size: 5\n"
	with := func(extra string) string { return "version: 2\nmodels:\n" + entry + extra }
	tests := map[string]struct{ content, want string }{
		"unknown key":         {with("    colour: red\n"), "field colour not found"},
		"wrong version":       {"version: 4\nmodels:\n" + entry, "schema version 4"},
		"missing version":     {"models:\n" + entry, "schema version 0"},
		"short sha":           {"version: 2\nmodels:\n  - name: m\n    file: m.gguf\n    sha256: abc\n    size: 5\n", "sha256 must be"},
		"upper-case sha":      {"version: 2\nmodels:\n  - name: m\n    file: m.gguf\n    sha256: " + strings.ToUpper(sampleSHA) + "\n    size: 5\n", "sha256 must be"},
		"non-hex sha":         {"version: 2\nmodels:\n  - name: m\n    file: m.gguf\n    sha256: " + strings.Repeat("zz", 32) + "\n    size: 5\n", "sha256 must be"},
		"path in file":        {"version: 2\nmodels:\n  - name: m\n    file: ../m.gguf\n    sha256: " + sampleSHA + "\n    size: 5\n", "bare file name"},
		"zero size":           {"version: 2\nmodels:\n  - name: m\n    file: m.gguf\n    sha256: " + sampleSHA + "\n    size: 0\n", "size must be positive"},
		"duplicate name":      {with(entry), "pinned twice"},
		"not yaml":            {"version: [1\n", "parse lockfile"},
		"name missing":        {"version: 2\nmodels:\n  - file: m.gguf\n    sha256: " + sampleSHA + "\n    size: 5\n", "name is empty"},
		"name with slash":     {"version: 2\nmodels:\n  - name: org/m\n    file: m.gguf\n    sha256: " + sampleSHA + "\n    size: 5\n", "letters, digits"},
		"name like a path":    {"version: 2\nmodels:\n  - name: m.gguf\n    file: m.gguf\n    sha256: " + sampleSHA + "\n    size: 5\n", "ends in .gguf"},
		"size not a number":   {"version: 2\nmodels:\n  - name: m\n    file: m.gguf\n    sha256: " + sampleSHA + "\n    size: big\n", "cannot unmarshal"},
		"branch source":       {with("    source: https://huggingface.co/org/repo/resolve/main/m.gguf\n"), `moving reference "/resolve/main"`},
		"tag source":          {with("    source: hf.co/org/repo@master\n"), `"@master"`},
		"latest source":       {with("    source: ollama://llama3:latest\n"), `"latest"`},
		"bad license":         {with("    license: Apache 2.0\n"), "not an SPDX license expression"},
		"bad approval time":   {with("    approved_at: yesterday\n"), "not an RFC 3339 time"},
		"bad template hash":   {with("    chat_template_sha256: abc\n"), "chat_template_sha256 must be"},
		"negative parameters": {with("    parameters: -1\n"), "cannot unmarshal"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Read(writeTemp(t, "models.lock", tt.content))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestMutableRef(t *testing.T) {
	commit := "0123456789abcdef0123456789abcdef01234567"
	tests := map[string]string{
		"https://huggingface.co/org/repo/resolve/" + commit + "/m.gguf": "",
		"https://huggingface.co/org/repo/resolve/main/m.gguf":           "/resolve/main",
		"https://huggingface.co/org/repo/blob/v1.0/m.gguf":              "/blob/v1.0",
		"https://huggingface.co/org/repo/resolve/" + commit[:12] + "/m": "/resolve/" + commit[:12],
		"hf.co/org/repo@main":                                   "@main",
		"hf.co/org/repo@" + commit:                              "",
		"git+ssh://git@github.com/org/repo@HEAD":                "@head",
		"registry.example/model:latest":                         "latest",
		"s3://bucket/models/latest/m.gguf":                      "latest",
		"s3://bucket/models/2026-01-31/m.gguf":                  "",
		"built in (warden testmodel --preset demo --seed 1)":    "",
		"https://example.org/mainframe-model/m.gguf":            "",
		"oci://registry.example/models/m@sha256:" + sampleSHA:   "",
		"https://github.com/org/repo/raw/master/models/m.gguf":  "/raw/master",
		"https://github.com/org/repo/releases/download/v2/m.gz": "",
	}
	for source, want := range tests {
		if got := MutableRef(source); got != want {
			t.Errorf("MutableRef(%q) = %q, want %q", source, got, want)
		}
	}
}

func TestValidLicense(t *testing.T) {
	for lic, want := range map[string]bool{
		"MIT": true, "Apache-2.0": true, "apache-2.0": true, "GPL-2.0+": true, "LicenseRef-llama3": true,
		"MIT OR Apache-2.0": true, "(MIT OR Apache-2.0) AND BSD-3-Clause": true, "GPL-2.0 WITH Classpath-exception-2.0": true,
		"": false, "Apache 2.0": false, "MIT OR": false, "AND MIT": false, "(MIT": false, "MIT, BSD": false, "see README": false,
	} {
		if got := ValidLicense(lic); got != want {
			t.Errorf("ValidLicense(%q) = %v, want %v", lic, got, want)
		}
	}
}

func TestPutRemoveMissing(t *testing.T) {
	var f File
	e := Entry{Name: "m", File: "m.gguf", SHA256: sampleSHA, Size: 5}
	if _, replaced := f.Put(e); replaced {
		t.Error("Put into an empty file replaced something")
	}
	e2 := e
	e2.Size = 6
	if old, replaced := f.Put(e2); !replaced || old.Size != 5 || len(f.Models) != 1 || f.Models[0].Size != 6 {
		t.Errorf("Put of the same name: old %+v, replaced %v, models %+v", old, replaced, f.Models)
	}
	if got := e.Missing(); len(got) != 10 || got[0] != "architecture" || got[9] != "approved_at" {
		t.Errorf("Missing() of a bare entry = %v", got)
	}
	e.ApprovedBy = "alice"
	if got := e.Missing(); slices.Contains(got, "approved_by") {
		t.Errorf("Missing() lists a set field: %v", got)
	}
	if err := f.Remove("other"); !errors.Is(err, ErrNotPinned) {
		t.Errorf("Remove(other) = %v", err)
	}
	if err := f.Remove("m"); err != nil || len(f.Models) != 0 {
		t.Errorf("Remove(m) = %v, left %+v", err, f.Models)
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
