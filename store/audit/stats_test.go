package audit

import "testing"

// TestStatsFollowFailure: while the store refuses writes, Stats shows the
// failure, the failed tries, the records waiting and those dropped; after
// recovery the queue empties and the counts stay.
func TestStatsFollowFailure(t *testing.T) {
	const queue = 3
	l := openLog(t, dbPath(t), Options{FailOpen: true, QueueSize: queue, BatchSize: 1})
	if st := l.Stats(); st != (Stats{QueueSize: queue}) {
		t.Fatalf("a fresh log: %+v", st)
	}
	mustExec(t, l.wdb, `PRAGMA query_only = 1`)
	submit(t, l, request(0))
	waitFor(t, "the failed state", func() bool { return l.Err() != nil })
	waitFor(t, "a retry", func() bool { return l.Stats().WriteErrors >= 2 })

	// The writer holds the failed record (a full batch of one) and takes
	// no more, so these wait in the queue until it is full, then drop.
	for i := range queue + 2 {
		submit(t, l, request(i+1))
	}
	st := l.Stats()
	if !st.Failing || st.Queued != queue || st.Dropped != 2 || st.Dropped != l.Dropped() {
		t.Errorf("while failing: %+v, want failing, %d queued, 2 dropped", st, queue)
	}

	mustExec(t, l.wdb, `PRAGMA query_only = 0`)
	waitFor(t, "the queue to drain", func() bool { return l.Err() == nil && l.Stats().Queued == 0 })
	after := l.Stats()
	if after.Failing || after.WriteErrors < st.WriteErrors || after.Dropped != 2 {
		t.Errorf("after recovery: %+v, want not failing, counts kept from %+v", after, st)
	}
}
