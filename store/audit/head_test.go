package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// verifyBroken runs Verify and fails unless it reports problem at id.
func verifyBroken(t *testing.T, path string, key []byte, problem Problem, id int64) Report {
	t.Helper()
	rep, err := openReader(t, path, key).Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() {
		t.Fatalf("Verify passed: %v", rep)
	}
	if rep.Broken.Problem != problem || rep.Broken.ID != id {
		t.Fatalf("broken at %d (%s), want %d (%s): %v", rep.Broken.ID, rep.Broken.Problem, id, problem, rep)
	}
	return rep
}

// openRefused opens the log and fails unless Open refuses it for its head,
// with an error that says want.
func openRefused(t *testing.T, path string, key []byte, want string) {
	t.Helper()
	l, err := Open(context.Background(), path, Options{Key: key, TextPolicy: TextFull})
	if err == nil {
		l.Close(context.Background())
		t.Fatal("Open accepted the log")
	}
	if !errors.Is(err, ErrHead) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open: %v, want ErrHead saying %q", err, want)
	}
}

func TestVerifyDetectsTailTruncation(t *testing.T) {
	tests := []struct {
		name    string
		delete  string
		end     int64 // the last id left
		missing int64
	}{
		{"the last row", `DELETE FROM records WHERE id = 20`, 19, 1},
		{"the last ten", `DELETE FROM records WHERE id > 10`, 10, 10},
		{"all rows", `DELETE FROM records`, 0, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, key := written(t, 20)
			mustExec(t, rawDB(t, path), tt.delete)
			rep := verifyBroken(t, path, key, ProblemTruncated, tt.end+1)
			want := fmt.Sprintf("the log ends at id %d but the head file", tt.end)
			count := fmt.Sprintf("records id 20: %d records missing from the tail", tt.missing)
			if rep.Broken.Missing != tt.missing || !strings.Contains(rep.Broken.Detail, want) || !strings.Contains(rep.Broken.Detail, count) {
				t.Errorf("Verify: %v, want %d missing", rep, tt.missing)
			}
			// The server does not start on it either: it would chain new
			// rows after the cut and write a head over the evidence.
			openRefused(t, path, key, count)
		})
	}
}

// rewriteHead edits the head file's JSON fields, keeping its MAC.
func rewriteHead(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	data, err := os.ReadFile(HeadPath(path))
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	edit(f)
	if data, err = json.Marshal(f); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(HeadPath(path), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTamperedHeadFails(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(t *testing.T, path string)
		problem Problem
		id      int64
	}{
		{"lower its id", func(t *testing.T, path string) {
			rewriteHead(t, path, func(f map[string]any) { f["last_id"] = 5 })
		}, ProblemBadHead, 5},
		{"change its time", func(t *testing.T, path string) {
			rewriteHead(t, path, func(f map[string]any) { f["written_at"] = "2020-01-01T00:00:00.000000Z" })
		}, ProblemBadHead, 10},
		{"not a head", func(t *testing.T, path string) {
			if err := os.WriteFile(HeadPath(path), []byte("last_id=5\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, ProblemBadHead, 0},
		{"under another key", func(t *testing.T, path string) {
			if _, err := writeHead(HeadPath(path), newKey(t), link{id: 8, hash: make([]byte, 32)}, time.Now()); err != nil {
				t.Fatal(err)
			}
		}, ProblemBadHead, 8},
		{"deleted", func(t *testing.T, path string) {
			if err := os.Remove(HeadPath(path)); err != nil {
				t.Fatal(err)
			}
		}, ProblemNoHead, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, key := written(t, 10)
			verifyOK(t, openReader(t, path, key))
			tt.tamper(t, path)
			verifyBroken(t, path, key, tt.problem, tt.id)
			openRefused(t, path, key, string(tt.problem))
		})
	}
}

// TestHeadLaggingTheLogPasses is the state a crash between a commit and
// the head's write leaves: rows beyond the head, chained correctly.
func TestHeadLaggingTheLogPasses(t *testing.T) {
	path, key := written(t, 5)
	old, err := os.ReadFile(HeadPath(path))
	if err != nil {
		t.Fatal(err)
	}
	l := openLog(t, path, Options{Key: key})
	for i := 6; i <= 10; i++ {
		submit(t, l, request(i))
	}
	closeLog(t, l)
	if err := os.WriteFile(HeadPath(path), old, 0o600); err != nil {
		t.Fatal(err)
	}
	rep := verifyOK(t, openReader(t, path, key))
	if rep.LastID != 10 || rep.Head == nil || rep.Head.LastID != 5 {
		t.Fatalf("Verify: %v, want rows to 10 and the head at 5", rep)
	}
	// The server starts, and brings the head up to the log.
	closeLog(t, openLog(t, path, Options{Key: key}))
	if rep := verifyOK(t, openReader(t, path, key)); rep.Head.LastID != 10 {
		t.Errorf("after Open: head at %d, want 10", rep.Head.LastID)
	}

	// Rows beyond the head that do not chain still fail, as rows do.
	mustExec(t, rawDB(t, path), `UPDATE records SET subject = 'mallory' WHERE id = 8`)
	if err := os.WriteFile(HeadPath(path), old, 0o600); err != nil {
		t.Fatal(err)
	}
	verifyBroken(t, path, key, ProblemEdited, 8)
}

// TestReplacedLogFails: another log under the same key, as long as the
// first, chains correctly but does not pass through the head.
func TestReplacedLogFails(t *testing.T) {
	path, key := written(t, 10)
	other := dbPath(t)
	l := openLog(t, other, Options{Key: key})
	for i := range 10 {
		submit(t, l, request(100+i))
	}
	closeLog(t, l)
	replaceDB(t, other, path)
	verifyBroken(t, path, key, ProblemHeadMismatch, 10)
	openRefused(t, path, key, "another hash for row 10")
}

// replaceDB copies the database at src over dst, with its WAL: the last
// connection to close may be a read-only one, which leaves the WAL.
func replaceDB(t *testing.T, src, dst string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(dst + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		data, err := os.ReadFile(src + suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+suffix, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTruncationWhileRunning: rows cut under a running server are not
// papered over by the next commit, which fails instead (fail-closed).
func TestTruncationWhileRunning(t *testing.T) {
	path := dbPath(t)
	key := newKey(t)
	l := openLog(t, path, Options{Key: key})
	for i := 1; i <= 10; i++ {
		submit(t, l, request(i))
	}
	waitFor(t, "10 rows", func() bool { return countRows(t, path) == 10 })
	mustExec(t, rawDB(t, path), `DELETE FROM records WHERE id > 7`)
	submit(t, l, request(11))
	waitFor(t, "the failed state", func() bool { return l.Err() != nil })
	if err := l.Err(); !errors.Is(err, ErrHead) || !strings.Contains(err.Error(), "3 records missing from the tail") {
		t.Errorf("Err() = %v, want ErrHead with 3 records missing", err)
	}
	if n := countRows(t, path); n != 7 {
		t.Errorf("%d rows, want the 7 left: nothing chained after the cut", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Close(ctx); err == nil || !strings.Contains(err.Error(), "1 records not written") {
		t.Errorf("Close: %v, want the record refused", err)
	}
	rep := verifyBroken(t, path, key, ProblemTruncated, 8)
	if rep.Broken.Missing != 3 {
		t.Errorf("Verify: %v, want 3 missing", rep)
	}
}

func TestPurgeWithHead(t *testing.T) {
	path := dbPath(t)
	key := newKey(t)
	l := openLog(t, path, Options{Key: key})
	old := time.Now().Add(-400 * 24 * time.Hour)
	for i := range 6 {
		rec := request(i)
		rec.Time = old
		submit(t, l, rec)
	}
	waitFor(t, "6 rows", func() bool { return countRows(t, path) == 6 })
	before, err := os.ReadFile(HeadPath(path))
	if err != nil {
		t.Fatal(err)
	}
	// Every row is old: the purge deletes the tail itself, leaving the
	// checkpoint at row 6 and its own record.
	if res, err := l.Purge(context.Background(), time.Now().Add(-DefaultRetention)); err != nil || res.Deleted != 6 {
		t.Fatalf("Purge: %+v, %v", res, err)
	}
	submit(t, l, request(7))
	closeLog(t, l)
	rep := verifyOK(t, openReader(t, path, key))
	if rep.Checkpoint == nil || rep.Checkpoint.LastID != 6 || rep.Head.LastID != 8 || rep.LastID != 8 {
		t.Fatalf("after purge: %v, want checkpoint 6, rows and head to 8", rep)
	}

	// A head from before the purge (its row now purged) lags: fine.
	if err := os.WriteFile(HeadPath(path), before, 0o600); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, openReader(t, path, key))

	// Cutting every row after the purge leaves the checkpoint: the head
	// still shows the cut, and a running log will not purge over it.
	l = openLog(t, path, Options{Key: key})
	mustExec(t, rawDB(t, path), `DELETE FROM records`)
	if _, err := l.Purge(context.Background(), time.Now()); !errors.Is(err, ErrHead) {
		t.Errorf("Purge of a cut log: %v, want ErrHead", err)
	}
	closeLog(t, l)
	rep = verifyBroken(t, path, key, ProblemTruncated, 7)
	if rep.Broken.Missing != 2 {
		t.Errorf("Verify: %v, want 2 missing", rep)
	}
}

// preHead makes the log at path look as a Warden before head files left
// it: schema version 1 and no head file.
func preHead(t *testing.T, path string) {
	t.Helper()
	db := rawDB(t, path)
	mustExec(t, db, `DROP TABLE unanchored`)
	mustExec(t, db, `PRAGMA user_version = 1`)
	if err := os.Remove(HeadPath(path)); err != nil {
		t.Fatal(err)
	}
}

func TestUpgradeFromPreHeadLog(t *testing.T) {
	path, key := written(t, 10)
	preHead(t, path)

	// The first Open anchors the log and says so in it.
	l := openLog(t, path, Options{Key: key})
	rep := verifyOK(t, l)
	if rep.LastID != 11 || rep.Head == nil || rep.Head.LastID != 11 {
		t.Fatalf("after upgrade: %v, want an anchor record 11 and the head on it", rep)
	}
	page, err := l.Query(context.Background(), Filter{Kind: KindSystem})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 || page.Entries[0].Action != "anchor" || !strings.Contains(page.Entries[0].Detail, "created at row 10") {
		t.Fatalf("anchor record: %+v", page.Entries)
	}
	closeLog(t, l)

	// From now on a missing head is refused, not recreated.
	if err := os.Remove(HeadPath(path)); err != nil {
		t.Fatal(err)
	}
	verifyBroken(t, path, key, ProblemNoHead, 0)
	openRefused(t, path, key, "missing although the log has been anchored")

	// A fresh log is anchored at its start, without a record.
	fresh := dbPath(t)
	closeLog(t, openLog(t, fresh, Options{Key: key}))
	if rep := verifyOK(t, openReader(t, fresh, key)); rep.Rows != 0 || rep.Head == nil || rep.Head.LastID != 0 {
		t.Errorf("fresh log: %v, want no rows and a head at 0", rep)
	}
}

// TestMarkedUnanchoredWithoutHeadFailsVerify: the mark that lets Open
// create a head is in the database, which whoever cut the tail could
// write; Verify does not take it as an excuse.
func TestMarkedUnanchoredWithoutHeadFailsVerify(t *testing.T) {
	path, key := written(t, 10)
	db := rawDB(t, path)
	mustExec(t, db, `DELETE FROM records WHERE id > 5`)
	mustExec(t, db, `INSERT INTO unanchored (one) VALUES (1)`)
	if err := os.Remove(HeadPath(path)); err != nil {
		t.Fatal(err)
	}
	rep := verifyBroken(t, path, key, ProblemNoHead, 0)
	if !strings.Contains(rep.Broken.Detail, "never anchored") {
		t.Errorf("Verify: %v", rep)
	}
}

func TestReanchor(t *testing.T) {
	path, key := written(t, 10)
	mustExec(t, rawDB(t, path), `DELETE FROM records WHERE id > 7`)
	openRefused(t, path, key, "3 records missing")

	ctx := context.Background()
	if _, err := Reanchor(ctx, path, key, "cli:op", " "); err == nil {
		t.Fatal("Reanchor without a reason succeeded")
	}
	if _, err := Reanchor(ctx, path, newKey(t), "cli:op", "restored"); err == nil {
		t.Fatal("Reanchor under another key succeeded")
	}
	res, err := Reanchor(ctx, path, key, "cli:op", "disk restored from backup")
	if err != nil {
		t.Fatal(err)
	}
	if res.Before.OK() || res.Before.Broken.Missing != 3 || res.ID != 8 || res.Head.LastID != 8 {
		t.Fatalf("Reanchor: %+v", res)
	}
	rep := verifyOK(t, openReader(t, path, key))
	if rep.LastID != 8 {
		t.Errorf("after reanchor: %v", rep)
	}

	// The server starts again, and the acknowledgment is in the chain.
	l := openLog(t, path, Options{Key: key})
	page, err := l.Query(ctx, Filter{Kind: KindSystem})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 {
		t.Fatalf("system records: %+v", page.Entries)
	}
	e := page.Entries[0]
	for _, want := range []string{"after row 7", "3 records missing from the tail", "reason: disk restored from backup"} {
		if e.Action != "reanchor" || e.Subject != "cli:op" || !strings.Contains(e.Detail, want) {
			t.Errorf("reanchor record %+v, want it to say %q", e.Record, want)
		}
	}
	closeLog(t, l)
}

// TestHeadFile: the head is a 0600 file holding what it claims, and no
// temporary file outlives its write.
func TestHeadFile(t *testing.T) {
	path, key := written(t, 3)
	info, err := os.Stat(HeadPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("head mode %v, want 0600", perm)
	}
	h, broken, err := loadHead(HeadPath(path), key)
	if err != nil || broken != nil {
		t.Fatalf("loadHead: %v, %v", broken, err)
	}
	rep := verifyOK(t, openReader(t, path, key))
	if h.LastID != 3 || !bytes.Equal(h.LastHash, rep.LastHash) {
		t.Errorf("head %+v, want row 3 with hash %x", h, rep.LastHash)
	}
	if tmps, _ := filepath.Glob(HeadPath(path) + ".tmp-*"); len(tmps) != 0 {
		t.Errorf("temporary head files left: %v", tmps)
	}
	leftover := HeadPath(path) + ".tmp-123"
	if err := os.WriteFile(leftover, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	closeLog(t, openLog(t, path, Options{Key: key}))
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary head left by a crash still there: %v", err)
	}
}

// TestVerifyWithHeadCopy: an old head put back with the log cut to match
// passes Verify; a later copy kept elsewhere shows the cut.
func TestVerifyWithHeadCopy(t *testing.T) {
	path, key := written(t, 5)
	old, err := os.ReadFile(HeadPath(path))
	if err != nil {
		t.Fatal(err)
	}
	l := openLog(t, path, Options{Key: key})
	for i := 6; i <= 9; i++ {
		submit(t, l, request(i))
	}
	closeLog(t, l)
	kept := filepath.Join(t.TempDir(), "audit.head.copy")
	later, err := os.ReadFile(HeadPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kept, later, 0o600); err != nil {
		t.Fatal(err)
	}
	rd := openReader(t, path, key)
	if rep, err := rd.VerifyWith(context.Background(), kept); err != nil || !rep.OK() {
		t.Fatalf("VerifyWith before the cut: %v, %v", rep, err)
	}

	mustExec(t, rawDB(t, path), `DELETE FROM records WHERE id > 5`)
	if err := os.WriteFile(HeadPath(path), old, 0o600); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, rd) // the replayed head alone cannot tell
	rep, err := rd.VerifyWith(context.Background(), kept)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Broken.Problem != ProblemTruncated || rep.Broken.Missing != 4 || !strings.Contains(rep.Broken.Detail, "the head copy "+kept) {
		t.Fatalf("VerifyWith after the cut: %v, want 4 missing per the copy", rep)
	}
	if _, err := rd.VerifyWith(context.Background(), kept+".missing"); err == nil {
		t.Error("VerifyWith a missing copy succeeded")
	}
}
