package audit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// crashDirEnv makes the test binary a child that writes records until it
// is killed.
const crashDirEnv = "WARDEN_AUDIT_CRASH_DIR"

func TestCrashConsistency(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		writeUntilKilled(t, dir)
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashConsistency$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	waitFor(t, "the child to write 500 rows", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("child exited early: %v\n%s", err, out.String())
		default:
		}
		_, err := os.Stat(path)
		return err == nil && countRowsIfReady(path) >= 500
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child: %v, want killed\n%s", err, out.String())
	}

	key, err := LoadOrCreateKey(filepath.Join(dir, "audit.key"))
	if err != nil {
		t.Fatal(err)
	}
	rd := openReader(t, path, key)
	var integrity string
	if err := rd.db.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check: %q, %v", integrity, err)
	}
	rep := verifyOK(t, rd)
	n := countRows(t, path)
	if rep.Rows != n || rep.LastID != n || n < 500 {
		t.Fatalf("verified %v; the table holds %d rows", rep, n)
	}

	// The server starts again on the same log and appends to the chain.
	l := openLog(t, path, Options{Key: key})
	submit(t, l, request(0))
	closeLog(t, l)
	if rep := verifyOK(t, openReader(t, path, key)); rep.LastID != n+1 {
		t.Errorf("after restart: %v, want last id %d", rep, n+1)
	}
	t.Logf("killed after %d committed rows", n)
}

// countRowsIfReady counts rows, or returns 0 while the child has not yet
// created the schema.
func countRowsIfReady(path string) int64 {
	rd, err := OpenReader(context.Background(), path, nil)
	if err != nil {
		return 0
	}
	defer rd.Close()
	var n int64
	if err := rd.db.QueryRow(`SELECT COUNT(*) FROM records`).Scan(&n); err != nil {
		return 0
	}
	return n
}

func writeUntilKilled(t *testing.T, dir string) {
	key, err := LoadOrCreateKey(filepath.Join(dir, "audit.key"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(context.Background(), filepath.Join(dir, "audit.db"),
		Options{Key: key, TextPolicy: TextFull, BatchSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	rec := request(0)
	rec.Prompt = strings.Repeat("a long prompt ", 100)
	for i := 0; ; i++ {
		rec.RequestID = fmt.Sprint(i)
		if err := l.Submit(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
}
