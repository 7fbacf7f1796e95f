package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRedactionRulesAgainstBinary: a configuration file's word list and
// pattern reach the audit log, so a listed name and an employee number
// in a prompt are stored as placeholders, next to the built-in ones; a
// bad expression stops serve and config check, naming it.
func TestRedactionRulesAgainstBinary(t *testing.T) {
	dir := t.TempDir()
	words := filepath.Join(dir, "names.txt")
	if err := os.WriteFile(words, []byte("# staff\nMarie Curie\nDupont\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, "models:\n  lock: "+repoLock+"\nredact:\n  words: "+words+
		"\n  patterns:\n    - 'EMPLOYEE_ID=\\bEMP-[0-9]{6}\\b'\n")
	w := startWarden(t, "--config", path)
	prompt := "Marie Curie (EMP-004211) and M. DUPONT wrote from marie [at] example [dot] fr, SSN 123-45-6789"
	if _, err := w.client.Chat.Completions.New(context.Background(), chatParams(demoName, prompt)); err != nil {
		t.Fatal(err)
	}
	if err := w.stop(); err != nil {
		t.Fatalf("warden exit: %v", err)
	}
	const want = "[NAME] ([EMPLOYEE_ID]) and M. [NAME] wrote from [EMAIL], SSN [NATIONAL_ID]"
	found := false
	for _, r := range exportRecords(t, w.dataDir) {
		p, _ := r["prompt"].(string)
		if strings.Contains(p, "EMPLOYEE_ID") {
			found = true
			t.Logf("stored prompt: %s", p)
			if !strings.Contains(p, want) {
				t.Errorf("stored prompt %q, want it to hold %q", p, want)
			}
		}
		for _, clear := range []string{"Curie", "DUPONT", "004211", "example", "6789"} {
			if strings.Contains(p, clear) {
				t.Errorf("%q stored in clear: %q", clear, p)
			}
		}
	}
	if !found {
		t.Fatal("no audit record holds the redacted prompt")
	}

	bad := writeConfig(t, "redact:\n  patterns:\n    - 'EMPLOYEE_ID=EMP-[0-9'\n")
	for _, args := range [][]string{
		{"config", "check", "--config", bad},
		{"serve", "--config", bad, "--data-dir", t.TempDir(), "--port", "0", "--lock", repoLock},
	} {
		out, err := runWarden(t, args...)
		if err == nil || !strings.Contains(out, `"redact.patterns"`) || !strings.Contains(out, "EMPLOYEE_ID") ||
			!strings.Contains(out, "missing closing ]") {
			t.Errorf("warden %s with a bad pattern: %v\n%s", args[0], err, out)
		}
	}
}

// TestRevocationReasonsTakeTheOperatorsRules: the configuration's word list
// reaches revocation reasons too, through the command line and the admin
// endpoint alike, so a listed name is on no disk file.
func TestRevocationReasonsTakeTheOperatorsRules(t *testing.T) {
	dir := t.TempDir()
	words := filepath.Join(dir, "names.txt")
	if err := os.WriteFile(words, []byte("Marie Curie\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, "models:\n  lock: "+repoLock+"\nredact:\n  words: "+words+"\n")
	w := startWarden(t, "--config", path)
	if out, err := runWarden(t, "token", "revoke", "--config", path, "--data-dir", w.dataDir,
		"--reason", "laptop of Marie Curie", "jti-cli"); err != nil {
		t.Fatalf("warden token revoke: %v\n%s", err, out)
	}
	admin := issueToken(t, w.dataDir, "--sub", "ops", "--role", "admin")
	if code, resp := post(t, w.base+"/admin/tokens/revoke", admin, `{"jti": "jti-admin", "reason": "phone of marie curie"}`); code != http.StatusOK {
		t.Fatalf("admin revoke: %d %s", code, resp)
	}
	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	assertNotOnDisk(t, w.dataDir, []string{"revocations.db", "audit.db"}, "Curie", "curie")
	out, err := runWarden(t, "token", "revoked", "--data-dir", w.dataDir)
	if err != nil || !strings.Contains(out, "laptop of [NAME]") || !strings.Contains(out, "phone of [NAME]") {
		t.Errorf("warden token revoked: %v\n%s", err, out)
	}
}
