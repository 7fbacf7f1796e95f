package audit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// run is the writer goroutine: it owns every write to the database. It
// writes queued records in batches, one transaction each; when a batch
// fails it keeps the batch, marks the log failed and tries again every
// RetryInterval, leaving the rest in the queue, until a write succeeds.
func (l *Log) run() {
	defer close(l.done)
	defer l.syncHead() // on the way out: the head records the last commit
	// Writes do not take a caller's context: a record accepted is written
	// unless Close gives up waiting (abort).
	ctx := context.Background()
	var batch []*row
	for {
		select {
		case <-l.abort:
			l.lost = int64(len(batch)) + l.drain()
			return
		default:
		}
		if len(batch) == 0 {
			select {
			case r, ok := <-l.queue:
				if !ok {
					return
				}
				batch = append(batch, r)
			case req := <-l.purges:
				req.reply <- l.purge(req)
				continue
			}
		}
		batch = l.fill(batch)
		if err := l.write(ctx, batch); err != nil {
			l.writeErrors.Add(1)
			l.setFailed(err)
			if !l.pause() {
				l.lost = int64(len(batch)) + l.drain()
				return
			}
			continue
		}
		l.setFailed(nil)
		clear(batch) // let the texts go
		batch = batch[:0]
	}
}

// fill adds what is already queued to batch, up to BatchSize, without
// waiting.
func (l *Log) fill(batch []*row) []*row {
	for len(batch) < l.opts.BatchSize {
		select {
		case r, ok := <-l.queue:
			if !ok {
				return batch
			}
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

func (l *Log) write(ctx context.Context, batch []*row) error {
	tx, err := l.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("write %d audit records: %w", len(batch), err)
	}
	end, err := l.checkedTail(ctx, tx)
	if err == nil {
		end, err = appendRows(ctx, tx, l.opts.Key, end, batch)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("write %d audit records: %w", len(batch), err), tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("write %d audit records: %w", len(batch), err)
	}
	l.committed(end)
	return nil
}

// checkedTail reads the chain's tail in tx and checks that the chain still
// passes through the last link this log committed. Rows cut from the tail
// while the server runs must not be papered over by chaining new rows
// after the cut, and a head written over them: the write fails instead,
// and so does every later one (the log fails closed) until an operator
// stops the server and looks.
func (l *Log) checkedTail(ctx context.Context, tx querier) (link, error) {
	end, err := tail(ctx, tx)
	if err != nil {
		return link{}, err
	}
	broken, err := compareAnchor(ctx, tx, l.known, "this server last committed", end)
	if err != nil {
		return link{}, err
	}
	if broken != nil {
		return link{}, fmt.Errorf("%w: %s: %s", ErrHead, broken.Problem, broken.Detail)
	}
	return end, nil
}

// committed notes end, just committed, as the chain's tail and writes the
// head file for it: after the commit, so that a crash in between leaves a
// head that lags the database, which Verify accepts, never one ahead of
// it, which would read as a truncation.
func (l *Log) committed(end link) {
	l.known = end
	l.syncHead()
}

// syncHead writes the head file for the last commit. A head that cannot be
// written does not fail the records, which are committed and chained: it
// weakens only the evidence against cutting the tail, no more than an old
// head copied back would. It is said loudly, and tried again at the next
// commit and at Close, which reports it.
func (l *Log) syncHead() {
	_, err := writeHead(l.headPath, l.opts.Key, l.known, time.Now())
	switch {
	case err != nil && l.headErr == nil:
		l.opts.Logger.Error("audit head file cannot be written: a cut tail would not show until it is",
			"path", l.headPath, "row", l.known.id, "err", err)
	case err == nil && l.headErr != nil:
		l.opts.Logger.Warn("audit head file written again", "path", l.headPath, "row", l.known.id)
	}
	l.headErr = err
}

// pause waits RetryInterval before the next try, turning purges away
// meanwhile. It returns false if Close gave up waiting.
func (l *Log) pause() bool {
	t := time.NewTimer(l.opts.RetryInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return true
		case <-l.abort:
			return false
		case req := <-l.purges:
			req.reply <- purgeReply{err: l.Err()}
		}
	}
}

// drain counts what is left in the queue once Close has closed it.
func (l *Log) drain() int64 {
	var n int64
	for range l.queue {
		n++
	}
	return n
}
