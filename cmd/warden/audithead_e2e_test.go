package main

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// TestAuditTailTruncationAgainstBinary: the last records deleted from a
// stopped server's log make `warden audit verify` fail naming how many,
// `warden serve` refuse the data directory, and `warden audit reanchor`
// accept it with a record saying so.
func TestAuditTailTruncationAgainstBinary(t *testing.T) {
	w := startWarden(t, "--lock", repoLock)
	for range 3 {
		if _, err := w.client.Chat.Completions.New(context.Background(), chatParams(demoName, "hello")); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.stop(); err != nil {
		t.Fatalf("warden exit: %v", err)
	}
	out, err := runWarden(t, "audit", "verify", "--data-dir", w.dataDir)
	if err != nil || !strings.HasPrefix(out, "ok:") || !strings.Contains(out, "head file at row") {
		t.Fatalf("audit verify before the cut: %v\n%s", err, out)
	}

	// An operator's copy of the head, kept elsewhere.
	kept := filepath.Join(t.TempDir(), "audit.head")
	head, err := os.ReadFile(filepath.Join(w.dataDir, "audit.head"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kept, head, 0o600); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite3", filepath.Join(w.dataDir, "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var last int64
	if err := db.QueryRow(`SELECT MAX(id) FROM records`).Scan(&last); err != nil || last < 5 {
		t.Fatalf("last id %d, %v: want start, 3 calls and stop at least", last, err)
	}
	if _, err := db.Exec(`DELETE FROM records WHERE id > ?`, last-3); err != nil {
		t.Fatal(err)
	}
	db.Close() // leave no connection behind for the commands below

	out, err = runWarden(t, "audit", "verify", "--data-dir", w.dataDir)
	if err == nil || !strings.Contains(out, "3 records missing from the tail") || !strings.Contains(out, "audit reanchor") {
		t.Fatalf("audit verify after deleting the last 3 records: %v, want exit 1 naming 3 missing\n%s", err, out)
	}

	// The server will not chain new records after the cut.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	serve := exec.CommandContext(ctx, wardenBinary(t), "serve", "--port", "0", "--data-dir", w.dataDir, "--lock", repoLock)
	outb, err := serve.CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(outb), "3 records missing from the tail") {
		t.Fatalf("serve on the cut log: %v, want a refusal naming 3 missing\n%s", err, outb)
	}

	out, err = runWarden(t, "audit", "reanchor", "--data-dir", w.dataDir, "--reason", "test cut")
	if err != nil {
		t.Fatalf("audit reanchor: %v\n%s", err, out)
	}
	if out, err := runWarden(t, "audit", "verify", "--data-dir", w.dataDir); err != nil || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("audit verify after reanchor: %v\n%s", err, out)
	}
	// Re-anchoring is about the head beside the log: the copy kept
	// elsewhere still shows the cut.
	out, err = runWarden(t, "audit", "verify", "--data-dir", w.dataDir, "--head", kept)
	if err == nil || !strings.Contains(out, "the head copy "+kept) {
		t.Errorf("audit verify --head with the copy from before the cut: %v\n%s", err, out)
	}
	recs := exportRecords(t, w.dataDir)
	r := recs[len(recs)-1]
	if r["action"] != "reanchor" || !strings.Contains(r["detail"].(string), "3 records missing") || !strings.Contains(r["detail"].(string), "reason: test cut") {
		t.Errorf("last record %v, want the reanchor", r)
	}
}
