package audit

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The tests here make the store unwritable for real through the writer's
// own connection (the log holds exactly one): chmod would not stop root,
// which the tests may run as.

func TestFailClosedWhenDiskFull(t *testing.T) {
	path := dbPath(t)
	key := newKey(t)
	l := openLog(t, path, Options{Key: key})
	submit(t, l, request(1))
	waitFor(t, "the first row", func() bool { return countRows(t, path) == 1 })

	// The database may not grow by a single page: a disk-full error.
	var pages int64
	if err := l.wdb.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	mustExec(t, l.wdb, `PRAGMA max_page_count = `+strconv.FormatInt(pages, 10))
	big := request(2)
	big.Prompt = strings.Repeat("x", 64<<10)
	submit(t, l, big)
	waitFor(t, "the failed state", func() bool { return l.Err() != nil })
	if err := l.Err(); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "full") {
		t.Errorf("Err() = %v, want ErrUnavailable saying the database is full", err)
	}
	if err := l.Submit(context.Background(), request(3)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Submit while failed: %v, want ErrUnavailable", err)
	}
	if _, err := l.Purge(context.Background(), time.Now()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Purge while failed: %v, want ErrUnavailable", err)
	}

	mustExec(t, l.wdb, `PRAGMA max_page_count = 1073741823`)
	waitFor(t, "recovery", func() bool { return l.Err() == nil })
	submit(t, l, request(4))
	closeLog(t, l)
	rep := verifyOK(t, openReader(t, path, key))
	if rep.Rows != 3 {
		t.Errorf("%d rows, want 3: the first, the one kept through the failure, one after", rep.Rows)
	}
}

func TestFailOpenDropsAndCounts(t *testing.T) {
	const queue, batch = 4, 2
	path := dbPath(t)
	key := newKey(t)
	l := openLog(t, path, Options{Key: key, FailOpen: true, QueueSize: queue, BatchSize: batch})
	mustExec(t, l.wdb, `PRAGMA query_only = 1`) // writes fail: "attempt to write a readonly database"
	submitted := 0
	submitOK := func() {
		t.Helper()
		submit(t, l, request(submitted))
		submitted++
	}
	submitOK()
	waitFor(t, "the failed state", func() bool { return l.Err() != nil })
	if !strings.Contains(l.Err().Error(), "readonly") {
		t.Errorf("Err() = %v, want it to say the database is read-only", l.Err())
	}
	for range 3 * (queue + batch) {
		submitOK()
	}
	if l.Dropped() == 0 {
		t.Fatal("nothing dropped while the store failed and the queue was full")
	}

	mustExec(t, l.wdb, `PRAGMA query_only = 0`)
	waitFor(t, "recovery", func() bool { return l.Err() == nil })
	dropped := l.Dropped()
	closeLog(t, l)
	rep := verifyOK(t, openReader(t, path, key))
	if rep.Rows+dropped != int64(submitted) {
		t.Errorf("%d rows written + %d dropped != %d submitted", rep.Rows, dropped, submitted)
	}
}

// A lock held by another process stalls the writer; the queue fills, and
// Submit then fails after SubmitTimeout instead of dropping or blocking.
func TestQueueFullFailsClosed(t *testing.T) {
	path := dbPath(t)
	key := newKey(t)
	l := openLog(t, path, Options{Key: key, QueueSize: 2, BatchSize: 1, SubmitTimeout: 10 * time.Millisecond})
	db := rawDB(t, path)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for {
		err := l.Submit(context.Background(), request(accepted))
		if err != nil {
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Submit: %v, want ErrUnavailable", err)
			}
			break
		}
		accepted++
		if accepted > 1000 {
			t.Fatal("the queue never filled")
		}
	}
	if _, err := conn.ExecContext(context.Background(), `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	closeLog(t, l)
	if rep := verifyOK(t, openReader(t, path, key)); rep.Rows != int64(accepted) {
		t.Errorf("%d rows, want the %d accepted", rep.Rows, accepted)
	}
}

func TestCloseGivesUpWhenFailing(t *testing.T) {
	path := dbPath(t)
	l := openLog(t, path, Options{})
	mustExec(t, l.wdb, `PRAGMA query_only = 1`)
	submit(t, l, request(1))
	waitFor(t, "the failed state", func() bool { return l.Err() != nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := l.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "1 records not written") {
		t.Errorf("Close: %v, want it to report the record lost", err)
	}
}
