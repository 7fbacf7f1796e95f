package main

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitLog waits until the server's log holds n lines containing s.
func waitLog(t *testing.T, w *instance, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(w.logs.String(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log after 30s:\n%s", s, w.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSIGHUPReloadsConfiguration: a good new file takes effect without a
// restart, a change that needs one is named, and a bad file is refused
// while the old configuration keeps serving.
func TestSIGHUPReloadsConfiguration(t *testing.T) {
	path := writeConfig(t, "models:\n  lock: "+repoLock+"\nlimits:\n  requests_per_minute: 600\n")
	w := startWarden(t, "--config", path)
	models := func() int {
		code, _ := get(t, w.base+"/v1/models", w.token)
		return code
	}
	if code := models(); code != http.StatusOK {
		t.Fatalf("before reload: %d", code)
	}

	rewrite := func(content string) {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(w.pid, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	rewrite("models:\n  lock: " + repoLock + "\n  parallel: 3\nlimits:\n  requests_per_minute: 2\n")
	waitLog(t, w, "msg=reloaded", 1)
	if !strings.Contains(w.logs.String(), "models.parallel") {
		t.Errorf("the reload did not say models.parallel needs a restart:\n%s", w.logs.String())
	}
	models()
	models()
	if code := models(); code != http.StatusTooManyRequests {
		t.Fatalf("the reloaded limit of 2/min is not in force: %d", code)
	}

	rewrite("limits:\n  requests_per_minut: 1000\n")
	waitLog(t, w, "reload refused", 1)
	if code := models(); code != http.StatusTooManyRequests {
		t.Fatalf("after a refused reload the old limit must hold: %d", code)
	}
	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	recs := exportRecords(t, w.dataDir)
	if count(recs, "action", "reload") != 2 {
		t.Errorf("%d reload records in the audit log, want 2", count(recs, "action", "reload"))
	}
}
