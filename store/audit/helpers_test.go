package audit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// secretRedactor is a stand-in for store/redact: it hides "sk-..." tokens.
type secretRedactor struct{}

var secretRE = regexp.MustCompile(`sk-[a-z0-9]+`)

func (secretRedactor) Redact(s string) string { return secretRE.ReplaceAllString(s, "[REDACTED]") }

func newKey(t testing.TB) []byte {
	t.Helper()
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

func dbPath(t testing.TB) string { return filepath.Join(t.TempDir(), "audit.db") }

// openLog opens a log at path with fast retries, full texts unless opts
// say otherwise, and closes it when the test ends if the test did not.
func openLog(t testing.TB, path string, opts Options) *Log {
	t.Helper()
	if opts.Key == nil {
		opts.Key = newKey(t)
	}
	if opts.TextPolicy == "" {
		opts.TextPolicy = TextFull
	}
	if opts.RetryInterval == 0 {
		opts.RetryInterval = 5 * time.Millisecond
	}
	l, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

func closeLog(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func submit(t testing.TB, l *Log, rec Record) {
	t.Helper()
	if err := l.Submit(context.Background(), rec); err != nil {
		t.Fatalf("Submit: %v", err)
	}
}

// request is a plausible request record, numbered n.
func request(n int) Record {
	return Record{
		Time:      time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second),
		RequestID: fmt.Sprintf("req-%d", n),
		Subject:   "alice",
		Roles:     []string{"user"},
		Method:    "POST",
		Endpoint:  "/v1/chat/completions",
		Model:     "demo",
		Status:    200,
		Prompt:    fmt.Sprintf("prompt %d", n),
		Response:  fmt.Sprintf("response %d", n),
	}
}

// waitFor polls cond until it holds. It bounds the wait only to turn a
// hang into a failure; nothing is asserted about how long it took.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rawDB opens the database file directly, as someone tampering with it or
// inspecting it would.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t testing.TB, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func countRows(t testing.TB, path string) int64 {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(`SELECT COUNT(*) FROM records`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func openReader(t testing.TB, path string, key []byte) *Reader {
	t.Helper()
	rd, err := OpenReader(context.Background(), path, key)
	if err != nil {
		t.Fatalf("OpenReader: %v", err)
	}
	t.Cleanup(func() { rd.Close() })
	return rd
}

func verifyOK(t testing.TB, v interface {
	Verify(context.Context) (Report, error)
}) Report {
	t.Helper()
	rep, err := v.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !rep.OK() {
		t.Fatalf("Verify: %v", rep)
	}
	return rep
}
