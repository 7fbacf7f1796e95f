package audit

// Stats is a snapshot of the writer, for metrics.
type Stats struct {
	Queued      int   // records accepted and not yet written
	QueueSize   int   // most records that may wait
	WriteErrors int64 // write transactions that failed, each retry counted
	Dropped     int64 // records dropped while failing open
	Failing     bool  // the store cannot be written right now
}

// Stats reports the writer's queue and failures. It is safe to call at
// any time, after Close too.
func (l *Log) Stats() Stats {
	return Stats{
		Queued:      len(l.queue),
		QueueSize:   cap(l.queue),
		WriteErrors: l.writeErrors.Load(),
		Dropped:     l.dropped.Load(),
		Failing:     l.Err() != nil,
	}
}
