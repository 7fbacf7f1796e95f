package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCLIRevocationsAudited: a revocation made with `warden token revoke`
// reaches the audit log once, whether the server runs at the time or
// starts later; one made through the admin endpoint keeps its single
// record; and the hash chain still verifies.
func TestCLIRevocationsAudited(t *testing.T) {
	w := startWarden(t, "--lock", repoLock)
	revoke := func(jti string) {
		t.Helper()
		if out, err := runWarden(t, "token", "revoke", "--data-dir", w.dataDir, "--reason", "lost laptop", jti); err != nil {
			t.Fatalf("warden token revoke %s: %v\n%s", jti, err, out)
		}
	}
	// cliRecords counts the command-line revocation records per jti.
	cliRecords := func() map[string]int {
		t.Helper()
		n := map[string]int{}
		for _, r := range exportRecords(t, w.dataDir) {
			if r["action"] != "token revoke (command line)" {
				continue
			}
			detail, _ := r["detail"].(string)
			jti, _, _ := strings.Cut(strings.TrimPrefix(detail, "revoke jti="), " ")
			if !strings.HasPrefix(r["subject"].(string), "cli:") || !strings.Contains(detail, `reason="lost laptop"`) {
				t.Errorf("record %v", r)
			}
			n[jti]++
		}
		return n
	}
	waitFor := func(jti string) {
		t.Helper()
		deadline := time.Now().Add(10 * revocationSweep)
		for cliRecords()[jti] == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no audit record of the revocation of %s after %v", jti, 10*revocationSweep)
			}
			time.Sleep(revocationSweep / 4)
		}
	}

	revoke("jti-while-up")
	admin := issueToken(t, w.dataDir, "--sub", "ops", "--role", "admin")
	if code, body := post(t, w.base+"/admin/tokens/revoke", admin, `{"jti": "jti-by-admin"}`); code != http.StatusOK {
		t.Fatalf("admin revoke: %d %s", code, body)
	}
	waitFor("jti-while-up")
	if err := w.stop(); err != nil {
		t.Fatal(err)
	}

	revoke("jti-while-down")
	w2 := startWarden(t, "--lock", repoLock, "--data-dir", w.dataDir)
	waitFor("jti-while-down")
	time.Sleep(2 * revocationSweep) // two more sweeps must add nothing
	if err := w2.stop(); err != nil {
		t.Fatal(err)
	}
	if got := cliRecords(); len(got) != 2 || got["jti-while-up"] != 1 || got["jti-while-down"] != 1 {
		t.Errorf("command-line revocation records per jti: %v, want one each for jti-while-up and jti-while-down", got)
	}
	if out, err := runWarden(t, "audit", "verify", "--data-dir", w.dataDir); err != nil {
		t.Errorf("audit verify: %v\n%s", err, out)
	}
}
