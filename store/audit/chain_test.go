package audit

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// written returns a closed log of n request records and its key.
func written(t *testing.T, n int) (string, []byte) {
	t.Helper()
	path := dbPath(t)
	key := newKey(t)
	l := openLog(t, path, Options{Key: key})
	for i := 1; i <= n; i++ {
		submit(t, l, request(i))
	}
	closeLog(t, l)
	return path, key
}

const otherColumns = `time_us, kind, request_id, subject, roles, client_addr, method, endpoint,
	model, model_sha256, status, error_type, prompt_tokens, completion_tokens, queue_us, ttft_us,
	total_us, finish_reason, action, detail, text_policy, prompt, response, prev_hash, hash`

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name    string
		tamper  []string
		id      int64
		problem Problem
	}{
		{"edit a column", []string{`UPDATE records SET subject = 'mallory' WHERE id = 4`}, 4, ProblemEdited},
		{"edit a text", []string{`UPDATE records SET prompt = 'nothing to see' WHERE id = 2`}, 2, ProblemEdited},
		{"null a text", []string{`UPDATE records SET response = NULL WHERE id = 3`}, 3, ProblemEdited},
		{"edit the last row", []string{`UPDATE records SET status = 500 WHERE id = 10`}, 10, ProblemEdited},
		{"delete a row", []string{`DELETE FROM records WHERE id = 5`}, 5, ProblemMissing},
		{"delete the first rows", []string{`DELETE FROM records WHERE id <= 2`}, 1, ProblemMissing},
		{"swap two rows", []string{
			`CREATE TEMP TABLE r3 AS SELECT * FROM records WHERE id = 3`,
			`CREATE TEMP TABLE r7 AS SELECT * FROM records WHERE id = 7`,
			`UPDATE records SET (` + otherColumns + `) = (SELECT ` + otherColumns + ` FROM r7) WHERE id = 3`,
			`UPDATE records SET (` + otherColumns + `) = (SELECT ` + otherColumns + ` FROM r3) WHERE id = 7`,
		}, 3, ProblemReordered},
		{"renumber a row", []string{`DELETE FROM records WHERE id = 6`, `UPDATE records SET id = 6 WHERE id = 7`}, 6, ProblemReordered},
		{"alter a hash", []string{`UPDATE records SET hash = randomblob(32) WHERE id = 6`}, 6, ProblemBadHash},
		{"insert before the start", []string{`INSERT INTO records SELECT 0, ` + otherColumns + ` FROM records WHERE id = 1`}, 0, ProblemInserted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, key := written(t, 10)
			db := rawDB(t, path)
			for _, q := range tt.tamper {
				mustExec(t, db, q)
			}
			rep, err := openReader(t, path, key).Verify(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatalf("Verify passed: %v", rep)
			}
			if rep.Broken.ID != tt.id || rep.Broken.Problem != tt.problem {
				t.Errorf("broken at %d (%s), want %d (%s): %v", rep.Broken.ID, rep.Broken.Problem, tt.id, tt.problem, rep)
			}
		})
	}
}

func TestVerifyReportsTheTailAnchor(t *testing.T) {
	path, key := written(t, 10)
	rd := openReader(t, path, key)
	rep := verifyOK(t, rd)
	if rep.Rows != 10 || rep.FirstID != 1 || rep.LastID != 10 {
		t.Fatalf("report %v, want rows 1 to 10", rep)
	}
	if !strings.HasPrefix(rep.String(), "ok: 10 rows") {
		t.Errorf("String() = %q", rep.String())
	}
	// The report names the tail an operator may keep off the machine, and
	// the head file it matched.
	if rep.Head == nil || rep.Head.LastID != 10 || !bytes.Equal(rep.Head.LastHash, rep.LastHash) {
		t.Errorf("head %+v, want row 10 with hash %x", rep.Head, rep.LastHash)
	}
}

func TestVerifyWithWrongKey(t *testing.T) {
	path, _ := written(t, 3)
	rep, err := openReader(t, path, newKey(t)).Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Broken.ID != 1 {
		t.Errorf("Verify with another key: %v, want broken at row 1", rep)
	}
	if _, err := openReader(t, path, nil).Verify(context.Background()); err == nil {
		t.Error("Verify without a key succeeded")
	}
}

func TestPurge(t *testing.T) {
	path := dbPath(t)
	key := newKey(t)
	l := openLog(t, path, Options{Key: key})
	now := time.Now()
	old, recent := now.Add(-200*24*time.Hour), now.Add(-time.Hour)
	for i := range 10 {
		rec := request(i)
		rec.Time = old
		if i >= 5 {
			rec.Time = recent
		}
		submit(t, l, rec)
	}
	waitFor(t, "10 rows", func() bool { return countRows(t, path) == 10 })

	res, err := l.Purge(context.Background(), now.Add(-DefaultRetention))
	if err != nil {
		t.Fatal(err)
	}
	if res != (PurgeResult{Deleted: 5, FirstID: 1, LastID: 5}) {
		t.Errorf("purge result %+v, want rows 1 to 5", res)
	}
	rep := verifyOK(t, l)
	if rep.Checkpoint == nil || rep.Checkpoint.LastID != 5 || rep.FirstID != 6 || rep.LastID != 11 {
		t.Fatalf("after purge: %v, want checkpoint 5 and rows 6 to 11", rep)
	}
	page, err := l.Query(context.Background(), Filter{Kind: KindSystem})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 || page.Entries[0].Action != "purge" || !strings.Contains(page.Entries[0].Detail, "deleted rows 1 to 5") {
		t.Fatalf("purge record: %+v", page.Entries)
	}

	// Nothing more to delete: recorded all the same, chain still whole.
	if res, err := l.Purge(context.Background(), now.Add(-DefaultRetention)); err != nil || res.Deleted != 0 {
		t.Fatalf("second purge: %+v, %v", res, err)
	}
	submit(t, l, request(99))
	closeLog(t, l)
	rd := openReader(t, path, key)
	if rep := verifyOK(t, rd); rep.FirstID != 6 || rep.LastID != 13 {
		t.Errorf("after second purge: %v, want rows 6 to 13", rep)
	}
	l2 := openLog(t, path, Options{Key: key}) // the key still matches
	closeLog(t, l2)

	db := rawDB(t, path)
	mustExec(t, db, `UPDATE checkpoint SET last_id = 4`)
	rep, err = rd.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Broken.Problem != ProblemCheckpoint {
		t.Errorf("tampered checkpoint: %v, want %s", rep, ProblemCheckpoint)
	}
	mustExec(t, db, `DELETE FROM checkpoint`)
	rep, err = rd.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Broken.ID != 1 || rep.Broken.Problem != ProblemMissing {
		t.Errorf("checkpoint deleted: %v, want rows from 1 missing", rep)
	}
}

func TestPurgeRefusesBrokenRows(t *testing.T) {
	path := dbPath(t)
	key := newKey(t)
	l := openLog(t, path, Options{Key: key})
	for i := range 4 {
		rec := request(i)
		rec.Time = time.Now().Add(-365 * 24 * time.Hour)
		submit(t, l, rec)
	}
	waitFor(t, "4 rows", func() bool { return countRows(t, path) == 4 })
	mustExec(t, rawDB(t, path), `UPDATE records SET subject = 'mallory' WHERE id = 2`)
	if _, err := l.Purge(context.Background(), time.Now()); err == nil || !strings.Contains(err.Error(), "row 2") {
		t.Fatalf("Purge over a tampered row: %v, want refusal naming row 2", err)
	}
	if n := countRows(t, path); n != 4 {
		t.Errorf("%d rows left, want all 4", n)
	}
}

func TestPurgeInChunks(t *testing.T) {
	path := dbPath(t)
	key := newKey(t)
	l := openLog(t, path, Options{Key: key, purgeChunk: 3})
	old := time.Now().Add(-400 * 24 * time.Hour)
	for i := range 10 {
		rec := request(i)
		rec.Time = old
		submit(t, l, rec)
	}
	recent := request(10)
	recent.Time = time.Now()
	submit(t, l, recent)
	waitFor(t, "11 rows", func() bool { return countRows(t, path) == 11 })

	// Records keep arriving while the purge steps through its chunks.
	more := make(chan error, 1)
	go func() {
		for i := range 50 {
			if err := l.Submit(context.Background(), request(100+i)); err != nil {
				more <- err
				return
			}
		}
		more <- nil
	}()
	res, err := l.Purge(context.Background(), old.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-more; err != nil {
		t.Fatal(err)
	}
	if res != (PurgeResult{Deleted: 10, FirstID: 1, LastID: 10}) {
		t.Errorf("purge result %+v, want rows 1 to 10", res)
	}
	closeLog(t, l)
	rd := openReader(t, path, key)
	rep := verifyOK(t, rd)
	if rep.Checkpoint == nil || rep.Checkpoint.LastID != 10 || rep.FirstID != 11 || rep.Rows != 1+50+1 {
		t.Errorf("after purge: %v, want checkpoint 10 and 52 rows", rep)
	}
	page, err := rd.Query(context.Background(), Filter{Kind: KindSystem})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 || !strings.Contains(page.Entries[0].Detail, "deleted rows 1 to 10 (10)") {
		t.Errorf("purge records: %+v, want one for rows 1 to 10", page.Entries)
	}
}
